"""A tiny transformer and a locally built tokenizer: the fast, offline fixture for tests and the
starting point of the project's CPU testbed policy.

    tok = build_tiny_tokenizer()                 # char-level: printable ASCII + \\n \\t + specials
    model = build_tiny_model(tok)                # a real transformers LlamaForCausalLM (~100k params)
    tok.save_pretrained(d); model.save_pretrained(d)
    AutoTokenizer.from_pretrained(d); AutoModelForCausalLM.from_pretrained(d)   # round-trips

The tokenizer is a ``PreTrainedTokenizerFast`` with a ChatML Jinja ``chat_template`` and the
special tokens ``<|pad|>`` (pad), ``<|im_start|>`` (bos), ``<|im_end|>`` (eos), ``<|endoftext|>``,
``<|unk|>``; nothing is downloaded. Special-token ids are fixed: pad 0, endoftext 1, im_start 2,
im_end 3, unk 4; the char vocabulary follows (ids stable across calls and corpora for ASCII).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from .chat import CHATML_TEMPLATE

__all__ = ["SPECIAL_TOKENS", "build_tiny_model", "build_tiny_tokenizer", "default_corpus"]

PAD, ENDOFTEXT, IM_START, IM_END, UNK = "<|pad|>", "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|unk|>"
SPECIAL_TOKENS = (PAD, ENDOFTEXT, IM_START, IM_END, UNK)
BASE_CHARS = tuple(chr(i) for i in range(32, 127)) + ("\n", "\t")


def default_corpus(n: int = 200) -> list[str]:
    """A small deterministic corpus (arithmetic, short sentences, chat markup) for the BPE tokenizer."""
    words = ["the", "answer", "is", "let", "us", "think", "step", "by", "so", "we", "add", "multiply", "then",
             "solve", "for", "x", "def", "return", "python", "result", "total", "each", "number", "sum"]
    lines = []
    for i in range(n):
        a, b = (i * 37) % 97, (i * 53) % 89
        sentence = " ".join(words[(i * k) % len(words)] for k in range(1, 8))
        lines.append(f"{IM_START}user\nWhat is {a} + {b}?{IM_END}\n{IM_START}assistant\n"
                     f"{sentence}. The answer is \\boxed{{{a + b}}}{IM_END}\n")
        lines.append(f"def f{i}(x):\n    return x * {a} - {b}\n")
    return lines


def _char_tokenizer(corpus: Iterable[str] | None) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    vocab: dict[str, int] = {}
    for token in (*SPECIAL_TOKENS, *BASE_CHARS):
        vocab.setdefault(token, len(vocab))
    if corpus is not None:
        extra = sorted({c for text in corpus for c in text} - set(vocab))
        for c in extra:
            vocab[c] = len(vocab)
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=UNK))
    tok.pre_tokenizer = pre_tokenizers.Split(pattern="", behavior="isolated")
    tok.decoder = decoders.Fuse()
    tok.add_special_tokens(list(SPECIAL_TOKENS))
    return tok


def _bpe_tokenizer(corpus: Iterable[str] | None, vocab_size: int) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(list(corpus) if corpus is not None else default_corpus(), trainer=trainer)
    return tok


def build_tiny_tokenizer(
    corpus: Iterable[str] | None = None, kind: Literal["char", "bpe"] = "char", *, vocab_size: int = 512
) -> Any:
    """A ``PreTrainedTokenizerFast`` built locally (no download).

    ``kind="char"``: one token per character; printable ASCII, ``\\n`` and ``\\t`` always, plus every
    other character of ``corpus`` (unknown characters map to ``<|unk|>``). ``kind="bpe"``: byte-level
    BPE trained on ``corpus`` (default: :func:`default_corpus`) up to ``vocab_size`` tokens; it
    encodes any text losslessly.
    """
    from transformers import PreTrainedTokenizerFast

    if kind == "char":
        backend = _char_tokenizer(corpus)
    elif kind == "bpe":
        backend = _bpe_tokenizer(corpus, vocab_size)
    else:
        raise ValueError(f"kind must be 'char' or 'bpe', got {kind!r}")
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=IM_START,
        eos_token=IM_END,
        pad_token=PAD,
        unk_token=UNK,
        chat_template=CHATML_TEMPLATE,
        clean_up_tokenization_spaces=False,
        model_max_length=1 << 20,
    )


def build_tiny_model(
    tokenizer: Any,
    *,
    hidden_size: int = 64,
    num_layers: int = 2,
    num_heads: int = 4,
    max_positions: int = 1024,
    seed: int = 0,
    intermediate_size: int | None = None,
    arch: Literal["llama", "gpt2"] = "llama",
) -> Any:
    """A randomly initialised causal LM sized for ``tokenizer`` (float32, eval mode).

    ``arch="llama"`` (default) gives a ``LlamaForCausalLM`` with tied embeddings and
    ``intermediate_size = 4 * hidden_size`` unless given; ``arch="gpt2"`` a ``GPT2LMHeadModel``.
    Initialisation is seeded and does not disturb the global torch RNG.
    """
    import torch

    ids = {
        "vocab_size": len(tokenizer),
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        "eos_token_id": tokenizer.eos_token_id,
        "tie_word_embeddings": True,
    }
    if arch == "llama":
        from transformers import LlamaConfig, LlamaForCausalLM

        config = LlamaConfig(
            hidden_size=hidden_size,
            intermediate_size=intermediate_size or 4 * hidden_size,
            num_hidden_layers=num_layers,
            num_attention_heads=num_heads,
            num_key_value_heads=num_heads,
            max_position_embeddings=max_positions,
            **ids,
        )
        cls = LlamaForCausalLM
    elif arch == "gpt2":
        from transformers import GPT2Config, GPT2LMHeadModel

        config = GPT2Config(
            n_embd=hidden_size, n_layer=num_layers, n_head=num_heads, n_positions=max_positions,
            n_inner=intermediate_size, **ids,
        )
        cls = GPT2LMHeadModel
    else:
        raise ValueError(f"arch must be 'llama' or 'gpt2', got {arch!r}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = cls(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    return model.float().eval()
