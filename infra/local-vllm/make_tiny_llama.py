"""Create a tiny, randomly initialised Llama model for fast wire-protocol tests against vLLM.

The model is deterministic: a byte-level BPE tokenizer is trained on a fixed corpus and the weights
come from a fixed random seed, so every run produces the same files and vLLM's greedy output is
reproducible. The output is gibberish by design. Architecture: hidden 128, 2 layers, 2 attention
heads (head_dim 64, the smallest size vLLM's CPU attention supports), 1 KV head, 512 positions.

Usage (with the local-vllm venv python): ``python make_tiny_llama.py OUT_DIR``
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from lv_common import atomic_dir, is_ready, log

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerFast

SEED = 1234
VOCAB_SIZE = 512
MAX_POSITIONS = 512
BOS, EOS, PAD = "<s>", "</s>", "<pad>"
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] }}{{ eos_token }}\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
CORPUS = [
    "The quick brown fox jumps over the lazy dog.",
    "Hello, world! This is a tiny test model for the local vLLM engine.",
    "What is the capital of Germany? The capital of Germany is Berlin.",
    "Tokens are counted, streamed and reported in the usage block.",
    "Der schnelle braune Fuchs springt über den faulen Hund.",
    "user assistant system: answer briefly and politely, please.",
    "0 1 2 3 4 5 6 7 8 9 10 100 1000 - + * / = ( ) [ ] { } < > ' \" ; : , . ? !",
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.",
]


def build_tokenizer(out: Path) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE tokenizer on CORPUS and save it as a fast tokenizer into ``out``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=[PAD, BOS, EOS],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS * 4, trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD, model_max_length=MAX_POSITIONS
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out)
    return fast


def build_model(out: Path, vocab_size: int, bos_id: int, eos_id: int, pad_id: int) -> None:
    """Create the seeded random Llama weights and save them (safetensors) into ``out``."""
    import torch
    from transformers import GenerationConfig, LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=128,
        intermediate_size=256,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=MAX_POSITIONS,
        bos_token_id=bos_id,
        eos_token_id=eos_id,
        pad_token_id=pad_id,
        tie_word_embeddings=False,
    )
    config.architectures = ["LlamaForCausalLM"]
    torch.manual_seed(SEED)
    model = LlamaForCausalLM(config).to(torch.float32)
    model.generation_config = GenerationConfig(bos_token_id=bos_id, eos_token_id=eos_id, pad_token_id=pad_id)
    model.save_pretrained(out, safe_serialization=True)


def main(out_dir: str | Path) -> Path:
    """Prepare the tiny Llama model directory ``out_dir`` (no-op if it is already complete)."""
    out = Path(out_dir)
    if is_ready(out):
        log(f"{out} already prepared")
        return out
    with atomic_dir(out) as tmp:
        tok = build_tokenizer(tmp)
        vocab = len(tok)
        ids = [tok.convert_tokens_to_ids(t) for t in (BOS, EOS, PAD)]
        build_model(tmp, vocab, *ids)
        (tmp / "SOURCE.json").write_text(
            json.dumps({"source": "make_tiny_llama.py", "seed": SEED, "vocab_size": vocab}, indent=2) + "\n",
            encoding="utf-8",
        )
        log(f"tiny llama: vocab={vocab} bos/eos/pad={ids}")
    return out


def _cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path)
    args = parser.parse_args(argv)
    main(args.out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(_cli(sys.argv[1:]))
