"""The transformers backend and the tiny-model fixture."""

from __future__ import annotations

import math

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from agents import make_policy
from agents.hf import HFPolicy, auto_device_dtype, process_logits
from agents.tiny import SPECIAL_TOKENS, build_tiny_model, build_tiny_tokenizer
from llm_marl_envs.policy import SamplingParams


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


# --------------------------------------------------------------------------- HFPolicy protocol

PROMPTS = [[{"role": "system", "content": "Be brief."}, {"role": "user", "content": f"What is {i} * {i + 3}?"}]
           for i in range(4)] + [[{"role": "user", "content": "A much longer question " * 3 + "?"}]]


@pytest.fixture(scope="module")
def policy():
    tok = build_tiny_tokenizer()
    return HFPolicy(build_tiny_model(tok, seed=0), tok)


def test_batch_order_prompt_tokens_and_greedy_padding_invariance(policy):
    params = SamplingParams(temperature=0, max_tokens=12)
    batched = policy.generate(PROMPTS, params)
    assert len(batched) == len(PROMPTS)
    for conv, g in zip(PROMPTS, batched, strict=True):
        assert g.prompt_token_ids == policy.encode_prompt(conv)
        assert policy.tokenizer.decode(g.prompt_token_ids) == policy.prompt_text(conv)
        solo = policy.generate([conv], params)[0]
        assert solo.token_ids == g.token_ids and solo.text == g.text  # left padding changes nothing


def test_n_samples_seeds_reproduce_and_differ(policy):
    params = SamplingParams(n=3, max_tokens=16, seed=11)
    a = policy.generate(PROMPTS[:2], params)
    b = policy.generate(PROMPTS[:2], params)
    assert len(a) == 6 and [g.token_ids for g in a] == [g.token_ids for g in b]
    assert len({tuple(g.token_ids) for g in a}) == 6  # independent samples
    assert [g.prompt_token_ids for g in a] == [a[0].prompt_token_ids] * 3 + [a[3].prompt_token_ids] * 3
    c = policy.generate(PROMPTS[:2], params.with_(seed=12))
    assert [g.token_ids for g in c] != [g.token_ids for g in a]


def test_logprobs_are_under_the_sampling_distribution_and_match_teacher_forcing(policy):
    for params in (SamplingParams(max_tokens=20, seed=1),
                   SamplingParams(temperature=0.7, top_k=7, top_p=0.8, max_tokens=20, seed=2)):
        for g in policy.generate(PROMPTS[:3], params):
            assert len(g.logprobs) == len(g.token_ids) and all(math.isfinite(x) and x <= 0 for x in g.logprobs)
            forced = policy.token_logprobs(g.prompt_token_ids, g.token_ids, params)
            assert max(abs(x - y) for x, y in zip(forced, g.logprobs, strict=True)) < 1e-4
    # top_k=1 is a point mass: every sampled token has log-prob 0 under the sampling distribution
    g = policy.generate(PROMPTS[:1], SamplingParams(top_k=1, max_tokens=8, seed=0))[0]
    assert g.logprobs == pytest.approx([0.0] * len(g.token_ids), abs=1e-6)
    grad = policy.token_logprobs(g.prompt_token_ids, g.token_ids, grad=True)
    assert grad.requires_grad and grad.shape == (len(g.token_ids),)


def test_process_logits_top_p_keeps_the_smallest_covering_set():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    kept = process_logits(logits, 1.0, 0, 0.8).exp()[0]
    assert torch.allclose(kept, torch.tensor([0.625, 0.375, 0.0, 0.0]))
    assert torch.isinf(process_logits(logits, 1.0, 2, 1.0)[0, 2:]).all()


def test_stop_strings_eos_and_length(policy):
    params = SamplingParams(max_tokens=24, seed=5)
    free = policy.generate(PROMPTS[:1], params)[0]
    assert free.finish_reason == "length" and len(free.token_ids) == 24
    stop = free.text[8:10]
    cut = free.text.find(stop)
    stopped = policy.generate(PROMPTS[:1], params.with_(stop=(stop,)))[0]
    assert stopped.finish_reason == "stop" and stopped.text == free.text[:cut]
    assert stopped.metadata["stop"] == stop
    assert stopped.token_ids == free.token_ids[:len(stopped.token_ids)]
    assert policy.tokenizer.decode(stopped.token_ids, skip_special_tokens=True) == stopped.text

    eos_token = free.token_ids[3]  # pretend the 4th sampled token is EOS
    saved = policy.eos_ids
    try:
        policy.eos_ids = {eos_token}
        ended = policy.generate(PROMPTS[:1], params)[0]
    finally:
        policy.eos_ids = saved
    first = free.token_ids.index(eos_token)
    assert ended.finish_reason == "stop" and ended.token_ids == free.token_ids[:first + 1]
    assert len(ended.logprobs) == len(ended.token_ids)


def test_shared_prefix_prefills_each_unique_prompt_once_and_the_common_prefix_once(policy):
    tree = [PROMPTS[0]] * 2 + [PROMPTS[1]] * 2
    params = SamplingParams(n=4, max_tokens=6, seed=3)
    ids = [policy.encode_prompt(c) for c in PROMPTS[:2]]
    common = next(k for k in range(len(ids[0])) if ids[0][k] != ids[1][k])
    assert common >= policy.min_shared_prefix

    def run(share: bool, min_shared: int):
        policy.share_prefix, policy.min_shared_prefix = share, min_shared
        policy.stats = {"prefills": 0, "prefill_tokens": 0}
        try:
            return policy.generate(tree, params), dict(policy.stats)
        finally:
            policy.share_prefix, policy.min_shared_prefix = True, 32

    lcp, lcp_stats = run(True, 32)
    dedupe, dedupe_stats = run(True, 10_000)
    separate, separate_stats = run(False, 32)
    assert separate_stats == {"prefills": 16, "prefill_tokens": 8 * (len(ids[0]) + len(ids[1]))}
    assert dedupe_stats == {"prefills": 2, "prefill_tokens": len(ids[0]) + len(ids[1])}
    assert lcp_stats == {"prefills": 2, "prefill_tokens": len(ids[0]) + len(ids[1]) - common}
    assert [g.token_ids for g in lcp] == [g.token_ids for g in dedupe] == [g.token_ids for g in separate]
    for a, b in zip(lcp, separate, strict=True):
        assert a.prompt_token_ids == b.prompt_token_ids
        assert a.logprobs == pytest.approx(b.logprobs, abs=1e-4)


def test_in_place_weight_updates_change_the_next_generation(policy):
    params = SamplingParams(temperature=0, max_tokens=8)
    before = policy.generate(PROMPTS[:1], params)[0]
    snapshot = {k: v.clone() for k, v in policy.model.state_dict().items()}
    try:
        with torch.no_grad():
            for p in policy.model.parameters():
                p.add_(torch.randn_like(p) * 0.5)
        after = policy.generate(PROMPTS[:1], params)[0]
    finally:
        policy.model.load_state_dict(snapshot)
    assert after.token_ids != before.token_ids


def test_per_role_lora_adapters():
    tok = build_tiny_tokenizer()
    base = HFPolicy(build_tiny_model(tok, seed=4), tok)
    params = SamplingParams(temperature=0, max_tokens=10)
    base_out = base.generate(PROMPTS[:2], params)
    lora = HFPolicy(build_tiny_model(tok, seed=4), tok, adapters={"thinker": None, "reasoner": None})
    gen = torch.Generator().manual_seed(0)  # not the global RNG: its state depends on the tests run before
    with torch.no_grad():
        for name, p in lora.model.named_parameters():
            if "lora_B" in name and ".thinker" in name:
                p.normal_(0, 2.0, generator=gen)
    thinker, reasoner = lora.for_role("thinker"), lora.for_role("reasoner")
    t_out, r_out = thinker.generate(PROMPTS[:2], params), reasoner.generate(PROMPTS[:2], params)
    plain = lora.generate(PROMPTS[:2], params)  # no role: the base model, adapters disabled
    assert [g.token_ids for g in r_out] == [g.token_ids for g in base_out] == [g.token_ids for g in plain]
    assert [g.token_ids for g in t_out] != [g.token_ids for g in base_out]
    forced = thinker.token_logprobs(t_out[0].prompt_token_ids, t_out[0].token_ids)
    assert forced == pytest.approx(t_out[0].logprobs, abs=1e-4)
    trainable = [n for n, p in lora.model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)


def test_make_policy_from_a_saved_directory_and_device_selection(tmp_path):
    tok = build_tiny_tokenizer()
    build_tiny_model(tok).save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    policy = make_policy("hf", model=str(tmp_path))
    out = policy.generate(PROMPTS[:2], SamplingParams(max_tokens=5, seed=0, n=2))
    assert len(out) == 4 and all(len(g.token_ids) <= 5 for g in out)
    device, dtype = auto_device_dtype()
    assert (device.type, dtype) == (("cuda", torch.bfloat16) if torch.cuda.is_available() else ("cpu", torch.float32))
    assert policy.device == device
    assert make_policy("tiny").generate(PROMPTS[:1], SamplingParams(max_tokens=3))[0].prompt_token_ids


def test_inverse_cdf_sampling_matches_the_distribution():
    from agents.hf import sample_inverse_cdf

    probs = torch.tensor([[0.5, 0.0, 0.3, 0.2, 0.0]]).repeat(20000, 1)
    gen = torch.Generator().manual_seed(0)
    picks = sample_inverse_cdf(probs, torch.rand(20000, generator=gen))
    freq = torch.bincount(picks, minlength=5).float() / 20000
    assert freq[1] == 0 and freq[4] == 0
    assert torch.allclose(freq, probs[0], atol=0.02)
    edges = sample_inverse_cdf(probs[:2], torch.tensor([0.0, 1.0 - 1e-9]))
    assert edges.tolist() == [0, 3]


def test_batches_larger_than_max_batch_size_are_split_without_changing_results(policy):
    params = SamplingParams(n=2, max_tokens=8, seed=9)
    whole = policy.generate(PROMPTS, params)
    policy.max_batch_size = 3
    try:
        split = policy.generate(PROMPTS, params)
    finally:
        policy.max_batch_size = 64
    assert len(split) == 2 * len(PROMPTS)
    assert [g.token_ids for g in split] == [g.token_ids for g in whole]
    assert [g.prompt_token_ids for g in split] == [g.prompt_token_ids for g in whole]
