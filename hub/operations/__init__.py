"""The operations view: usage against quota this month, backend health and load, recent errors.

State IT (operators) sees every tenant and the backends; a municipality's tenant admins see only their
own tenant and, instead of the backends, which of their models are available.
"""
