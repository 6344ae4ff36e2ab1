"""The transformers backend and the tiny-model fixture."""

from __future__ import annotations

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from agents.tiny import SPECIAL_TOKENS, build_tiny_model, build_tiny_tokenizer


def test_tiny_tokenizer_and_model_round_trip(tmp_path):
    for kind in ("char", "bpe"):
        tok = build_tiny_tokenizer(kind=kind)
        model = build_tiny_model(tok, seed=1)
        text = tok.apply_chat_template([{"role": "user", "content": "What is 2+3? ~`{}|"}], tokenize=False,
                                       add_generation_prompt=True)
        assert text.endswith("<|im_start|>assistant\n")
        ids = tok(text)["input_ids"]
        assert tok.decode(ids) == text
        assert tok.unk_token_id not in ids
        d = tmp_path / kind
        tok.save_pretrained(d)
        model.save_pretrained(d)
        tok2, model2 = AutoTokenizer.from_pretrained(d), AutoModelForCausalLM.from_pretrained(d)
        assert tok2(text)["input_ids"] == ids and tok2.chat_template == tok.chat_template
        assert (tok2.pad_token_id, tok2.eos_token_id) == (tok.pad_token_id, tok.eos_token_id)
        x = torch.tensor([ids])
        assert torch.equal(model(x).logits, model2(x).logits)


def test_char_tokenizer_covers_printable_ascii_and_fixed_special_ids():
    tok = build_tiny_tokenizer()
    ascii_text = "".join(chr(i) for i in range(32, 127)) + "\n\t"
    ids = tok(ascii_text)["input_ids"]
    assert len(ids) == len(ascii_text) and tok.unk_token_id not in ids
    assert [tok.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS] == [0, 1, 2, 3, 4]
    assert tok(ascii_text)["input_ids"] == build_tiny_tokenizer(corpus=["é"])(ascii_text)["input_ids"]
    assert tok.unk_token_id in tok("é")["input_ids"]
    assert build_tiny_tokenizer(corpus=["é"]).unk_token_id not in build_tiny_tokenizer(corpus=["é"])("é")["input_ids"]
    a, b = build_tiny_model(tok, seed=0), build_tiny_model(tok, seed=0)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
