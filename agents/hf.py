"""The transformers backend: true batched generation with behaviour log-probs (the CPU default).

``HFPolicy(model_or_path, tokenizer=None, *, device=None, dtype=None, adapters=None)`` holds
``.model`` and ``.tokenizer``; learners optimise ``policy.model`` in place and the next
``generate`` samples from the updated weights.

How ``generate(prompts, params)`` works (one decode loop written here, not ``model.generate``):

1. Each conversation is rendered with the tokenizer's chat template (:mod:`agents.chat`) and
   tokenised without extra special tokens: ``Generation.prompt_token_ids`` are exactly those ids.
2. **Shared-prefix reuse**: identical prompts (the many copies of one frozen context in a rollout
   tree, and the ``n`` samples of each prompt) are prefilled once; their KV cache rows are then
   expanded to one row per sample. Distinct prompts of one batch that share a long token prefix
   (the system prompt and task of every node of a tree; at least ``min_shared_prefix`` tokens)
   prefill that prefix once and only their own suffixes. ``share_prefix=False`` prefills every
   sample separately (the benchmark compares both); ``policy.stats`` counts prefilled tokens.
3. Unique prompts are left-padded into one batch with an attention mask and explicit position ids,
   so padding never changes a prompt's logits; decoding runs all samples in one batch and drops
   finished rows from the cache as they finish.
4. Sampling distribution: logits / temperature, then top-k, then top-p (the smallest set of
   tokens whose probability reaches ``top_p``). ``Generation.logprobs[t]`` is the log-probability of
   ``token_ids[t]`` under that processed distribution — the behaviour log-prob a PPO ratio needs.
   With ``temperature=0`` (greedy) the distribution is a point mass, so the log-probs reported are
   those of the unmodified model distribution (temperature 1, no truncation) instead.
5. Per-request seeds: with ``params.seed`` set, prompt ``i`` sample ``j`` draws from its own
   ``torch.Generator`` seeded from ``(seed, i, j)``, so results reproduce call after call.
   ``generate(..., prompt_offset=k)`` seeds prompt ``i`` of the call as prompt ``k + i`` (a slice
   of a larger batch, e.g. one replica's chunk in :mod:`agents.ray_replicas`, then draws exactly
   what the whole batch would; default 0: unchanged).
6. Stops: the EOS token (kept as the last entry of ``token_ids``, not in ``text``;
   ``finish_reason="stop"``), a stop string (text cut before it; ``token_ids`` keep only the tokens
   that end before the stop string starts; ``metadata["stop"]`` names it), or ``max_tokens``
   (``finish_reason="length"``).

:meth:`HFPolicy.token_logprobs` recomputes the same log-probs teacher-forced (one forward pass over
prompt + tokens), for checks and for learners that need current-policy log-probs.

Per-role LoRA adapters (peft): ``adapters={"thinker": "path/to/adapter", "reasoner": LoraConfig(...)}``
loads (path) or creates (config) one adapter per role on the shared base; ``policy.for_role(role)``
is a view whose ``generate`` activates that adapter, and ``generate(..., role=...)`` does the same.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llm_marl_envs.policy import Conversation, Generation, SamplingParams

from .chat import ActMixin, render_chat

__all__ = ["HFPolicy", "HFRoleView", "auto_device_dtype", "check_model_path", "process_logits", "request_seed",
           "sample_inverse_cdf", "tokens_within"]

MODEL_FOLDER = ("a model folder holds config.json, the weights (*.safetensors or pytorch_model.bin) and the "
                "tokenizer files (tokenizer.json or tokenizer.model, with tokenizer_config.json)")


def check_model_path(path: str | Path) -> Path:
    """``path`` as a local model folder, or one ``FileNotFoundError`` line saying what is wrong and
    what a model folder must contain (models are never downloaded at run time)."""
    folder = Path(path).expanduser()
    if not folder.exists():
        raise FileNotFoundError(f"model path {str(path)!r} does not exist; {MODEL_FOLDER}")
    if not folder.is_dir():
        raise FileNotFoundError(f"model path {str(path)!r} is a file, not a folder; {MODEL_FOLDER}")
    missing = [] if (folder / "config.json").is_file() else ["config.json"]
    if not any(folder.glob("*.safetensors")) and not any(folder.glob("pytorch_model*.bin")):
        missing.append("weights")
    if missing:
        raise FileNotFoundError(f"model path {str(path)!r} is not a model folder (no {' and no '.join(missing)}); "
                                f"{MODEL_FOLDER}")
    return folder


def _cache_keyword() -> str:
    """The forward-pass keyword of the KV cache: ``cache`` in transformers >= 5.x, where
    ``past_key_values`` is deprecated (and warned about at every load), else ``past_key_values``."""
    from transformers.modeling_outputs import CausalLMOutputWithPast

    return "cache" if "cache" in getattr(CausalLMOutputWithPast, "__dataclass_fields__", {}) else "past_key_values"


def auto_device_dtype(device: Any = None, dtype: Any = None) -> tuple[Any, Any]:
    """``(device, dtype)``: CUDA with bfloat16 when available, else CPU with float32."""
    import torch

    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)
    if dtype is None:
        dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    elif isinstance(dtype, str):
        dtype = getattr(torch, dtype)
    return device, dtype


def request_seed(seed: int, prompt_index: int, sample_index: int) -> int:
    """The 63-bit seed of sample ``sample_index`` of prompt ``prompt_index`` for a request seed."""
    digest = hashlib.blake2b(f"{seed}/{prompt_index}/{sample_index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


def process_logits(logits: Any, temperature: float, top_k: int, top_p: float) -> Any:
    """Log-probs of the sampling distribution: ``[..., V]`` logits -> ``[..., V]`` float32 log-probs.

    temperature scaling, then top-k, then top-p (masked tokens get ``-inf``). ``temperature=0``
    returns the plain log-softmax (see the module docstring).
    """
    import torch

    logits = logits.float()
    if temperature > 0:
        logits = logits / temperature
        if top_k and top_k < logits.shape[-1]:
            kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        if top_p < 1.0:
            sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
            probs = torch.softmax(sorted_logits, dim=-1)
            before = torch.cumsum(probs, dim=-1) - probs  # mass strictly before each token
            drop_sorted = before >= top_p
            drop_sorted[..., 0] = False
            drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
            logits = logits.masked_fill(drop, float("-inf"))
    return torch.log_softmax(logits, dim=-1)


def tokens_within(tokenizer: Any, token_ids: Sequence[int], n_chars: int) -> int:
    """How many leading tokens of ``token_ids`` decode to at most ``n_chars`` characters (stop trimming)."""
    keep = 0
    while keep < len(token_ids) and len(tokenizer.decode(token_ids[:keep + 1], skip_special_tokens=True)) <= n_chars:
        keep += 1
    return keep


def sample_inverse_cdf(probs: Any, uniforms: Any) -> Any:
    """One token per row by inverse-CDF sampling: ``[B, V]`` probs, ``[B]`` uniforms in [0, 1) -> ``[B]`` ids.

    Vectorised across rows while each row keeps its own random stream (one uniform per row and
    step), which is what makes per-request seeds cheap. Zero-probability tokens are never chosen.
    """
    import torch

    cdf = probs.cumsum(-1)
    total = cdf[:, -1:]
    targets = (uniforms.clamp(min=1e-7, max=1 - 1e-7)[:, None] * total).to(cdf.dtype)
    return torch.searchsorted(cdf, targets).squeeze(-1).clamp(max=probs.shape[-1] - 1)


def _common_prefix_len(sequences: list[list[int]]) -> int:
    first = sequences[0]
    n = min(len(p) for p in sequences)
    for k in range(n):
        token = first[k]
        if any(p[k] != token for p in sequences[1:]):
            return k
    return n


@dataclass
class _Row:
    """Book-keeping of one sample being decoded."""

    out_index: int
    unique_index: int
    generator: Any
    tokens: list[int]
    logprobs: list[float]
    finish_reason: str | None = None
    stop: str | None = None


class HFPolicy(ActMixin):
    """A transformers causal LM behind the policy protocol (see the module docstring)."""

    def __init__(
        self,
        model_or_path: Any,
        tokenizer: Any = None,
        *,
        device: Any = None,
        dtype: Any = None,
        adapters: dict[str, Any] | None = None,
        max_batch_size: int = 64,
        share_prefix: bool = True,
        min_shared_prefix: int = 32,
        role: str | None = None,
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.device, self.dtype = auto_device_dtype(device, dtype)
        if isinstance(model_or_path, (str, Path)):
            path = str(check_model_path(model_or_path))
            tokenizer = tokenizer if tokenizer is not None else AutoTokenizer.from_pretrained(path)
            model = AutoModelForCausalLM.from_pretrained(path, dtype=self.dtype)
        else:
            model = model_or_path
            if tokenizer is None:
                raise ValueError("pass the tokenizer together with a model object")
            if isinstance(tokenizer, (str, Path)):
                if not Path(tokenizer).expanduser().exists():
                    raise FileNotFoundError(f"tokenizer path {str(tokenizer)!r} does not exist; {MODEL_FOLDER}")
                tokenizer = AutoTokenizer.from_pretrained(str(tokenizer))
        self.model = model.to(device=self.device, dtype=self.dtype)
        self.tokenizer = tokenizer
        self.max_batch_size = max_batch_size
        self.share_prefix = share_prefix
        self.min_shared_prefix = min_shared_prefix
        self.stats = {"prefills": 0, "prefill_tokens": 0}
        self.default_role = role
        self._torch = torch
        self._cache_kw = _cache_keyword()
        self.eos_ids = self._eos_ids()
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else min(self.eos_ids)
        self.adapter_roles: list[str] = []
        for adapter_role, spec in (adapters or {}).items():
            self.add_adapter(adapter_role, spec)

    # -- adapters ---------------------------------------------------------------------------
    def add_adapter(self, role: str, spec: Any = None) -> None:
        """Load (``spec`` a path) or create (``spec`` a ``peft.LoraConfig`` or ``None`` for a default
        r=8 LoRA on the attention projections) the adapter used when generating for ``role``."""
        from peft import LoraConfig, PeftModel, get_peft_model

        if spec is None:
            spec = LoraConfig(r=8, lora_alpha=16, lora_dropout=0.0, target_modules=["q_proj", "v_proj"],
                              task_type="CAUSAL_LM")
        if isinstance(spec, (str, Path)):
            if isinstance(self.model, PeftModel):
                self.model.load_adapter(str(spec), adapter_name=role)
            else:
                self.model = PeftModel.from_pretrained(self.model, str(spec), adapter_name=role, is_trainable=True)
        elif isinstance(self.model, PeftModel):
            self.model.add_adapter(role, spec)
        else:
            self.model = get_peft_model(self.model, spec, adapter_name=role)
        self.model.to(device=self.device, dtype=self.dtype)
        self.adapter_roles.append(role)

    def for_role(self, role: str) -> HFRoleView:
        """A policy view whose ``generate`` uses ``role``'s adapter (the base model if it has none)."""
        return HFRoleView(self, role)

    def _activate(self, role: str | None) -> Any:
        """Select the adapter for ``role``; return a context manager (disables adapters for the base)."""
        import contextlib

        if not self.adapter_roles:
            return contextlib.nullcontext()
        if role in self.adapter_roles:
            self.model.set_adapter(role)
            return contextlib.nullcontext()
        return self.model.disable_adapter()

    # -- tokenisation ---------------------------------------------------------------------------
    def _eos_ids(self) -> set[int]:
        ids: set[int] = set()
        gen_eos = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        for value in (gen_eos, self.tokenizer.eos_token_id):
            if isinstance(value, int):
                ids.add(value)
            elif isinstance(value, (list, tuple)):
                ids.update(int(v) for v in value)
        if not ids:
            raise ValueError("the tokenizer/model defines no EOS token")
        return ids

    def prompt_text(self, conversation: Conversation) -> str:
        """The templated prompt text of one conversation (generation prompt appended)."""
        return render_chat(self.tokenizer, conversation)

    def encode_prompt(self, conversation: Conversation) -> list[int]:
        """Exactly the token ids ``generate`` feeds the model for ``conversation``."""
        return list(self.tokenizer(self.prompt_text(conversation), add_special_tokens=False)["input_ids"])

    # -- generation ---------------------------------------------------------------------------
    def generate(
        self, prompts: Sequence[Conversation], params: SamplingParams | None = None, *, role: str | None = None,
        prompt_offset: int = 0,
    ) -> list[Generation]:
        """``len(prompts) * params.n`` generations, prompt-major (see the module docstring);
        ``prompt_offset``: the index of ``prompts[0]`` in the whole batch, for per-request seeds."""
        params = params or SamplingParams()
        prompt_ids = [self.encode_prompt(conv) for conv in prompts]
        return self.generate_from_ids(prompt_ids, params, role=role, prompt_offset=prompt_offset)

    def generate_from_ids(
        self, prompt_ids: Sequence[Sequence[int]], params: SamplingParams, *, role: str | None = None,
        prompt_offset: int = 0,
    ) -> list[Generation]:
        """Like :meth:`generate` for already-tokenised prompts."""
        torch = self._torch
        role = role if role is not None else self.default_role
        requests = [(i, j) for i in range(len(prompt_ids)) for j in range(params.n)]
        # group samples by identical prompt (shared prefill) or one group per sample
        groups: dict[Any, list[int]] = {}
        for out_index, (i, _j) in enumerate(requests):
            key = tuple(prompt_ids[i]) if self.share_prefix else out_index
            groups.setdefault(key, []).append(out_index)
        results: list[Generation | None] = [None] * len(requests)
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.inference_mode(), self._activate(role):
                for chunk in self._chunks(list(groups.values())):
                    self._run_chunk(chunk, requests, prompt_ids, params, results, prompt_offset)
        finally:
            self.model.train(was_training)
        return [r for r in results if r is not None]

    def _chunks(self, groups: list[list[int]]) -> list[list[list[int]]]:
        """Split groups of samples into batches of at most ``max_batch_size`` samples."""
        chunks: list[list[list[int]]] = []
        current: list[list[int]] = []
        size = 0
        for group in groups:
            for start in range(0, len(group), self.max_batch_size):
                part = group[start:start + self.max_batch_size]
                if current and size + len(part) > self.max_batch_size:
                    chunks.append(current)
                    current, size = [], 0
                current.append(part)
                size += len(part)
        if current:
            chunks.append(current)
        return chunks

    def _run_chunk(self, chunk: list[list[int]], requests: list[tuple[int, int]],
                   prompt_ids: Sequence[Sequence[int]], params: SamplingParams,
                   results: list[Generation | None], prompt_offset: int = 0) -> None:
        torch = self._torch
        unique = [list(prompt_ids[requests[group[0]][0]]) for group in chunk]
        if any(len(p) == 0 for p in unique):
            raise ValueError("cannot generate from an empty prompt")
        cache, last_logits, mask, last_pos = self._prefill(unique)

        rows: list[_Row] = []
        expand: list[int] = []
        for u, group in enumerate(chunk):
            for out_index in group:
                i, j = requests[out_index]
                generator = None
                if params.seed is not None:
                    generator = torch.Generator(device=self.device)
                    generator.manual_seed(request_seed(params.seed, prompt_offset + i, j))
                rows.append(_Row(out_index, u, generator, [], []))
                expand.append(u)
        index = torch.tensor(expand, device=self.device)
        if len(expand) != len(unique) or expand != list(range(len(unique))):
            cache.batch_select_indices(index)
        logits = last_logits[index]
        mask = mask[index]
        next_pos = last_pos[index] + 1
        active = list(range(len(rows)))
        shared_gen = None
        if params.seed is None:
            shared_gen = torch.Generator(device=self.device)
            shared_gen.manual_seed(int(torch.randint(0, 2**62, (1,)).item()))
        max_stop = max((len(s) for s in params.stop), default=0)

        for step in range(params.max_tokens):
            logp = process_logits(logits, params.temperature, params.top_k, params.top_p)
            if params.temperature == 0:
                chosen = logits.float().argmax(dim=-1)
            else:
                if shared_gen is not None:
                    uniforms = torch.rand(len(active), generator=shared_gen, device=self.device)
                else:
                    uniforms = torch.cat([torch.rand(1, generator=rows[r].generator, device=self.device)
                                          for r in active])
                chosen = sample_inverse_cdf(logp.exp(), uniforms)
            chosen_logp = logp.gather(-1, chosen[:, None]).squeeze(-1).tolist()
            chosen_list = chosen.tolist()
            keep: list[int] = []
            for k, r in enumerate(active):
                row = rows[r]
                token = chosen_list[k]
                row.tokens.append(token)
                row.logprobs.append(chosen_logp[k])
                if token in self.eos_ids:
                    row.finish_reason = "stop"
                elif max_stop and self._hits_stop(row, params.stop, max_stop):
                    row.finish_reason = "stop"
                elif step + 1 >= params.max_tokens:
                    row.finish_reason = "length"
                else:
                    keep.append(k)
            if not keep:
                break
            active_before = active
            active = [active_before[k] for k in keep]
            keep_t = torch.tensor(keep, device=self.device)
            if len(keep) != len(active_before):
                cache.batch_select_indices(keep_t)
                chosen, mask, next_pos = chosen[keep_t], mask[keep_t], next_pos[keep_t]
            mask = torch.cat([mask, torch.ones((len(active), 1), dtype=mask.dtype, device=self.device)], dim=1)
            out = self.model(input_ids=chosen[:, None], attention_mask=mask, position_ids=next_pos[:, None],
                             use_cache=True, **{self._cache_kw: cache})
            cache, logits = getattr(out, self._cache_kw), out.logits[:, -1, :]
            next_pos = next_pos + 1

        for row in rows:
            results[row.out_index] = self._finish(row, unique[row.unique_index], params)

    def _prefill(self, unique: list[list[int]]) -> tuple[Any, Any, Any, Any]:
        """Prefill distinct prompts: ``(cache, last logits [U, V], attention mask [U, L], last position [U])``.

        With ``share_prefix`` and a common token prefix of at least ``min_shared_prefix`` tokens, the
        prefix is computed once (batch 1), its KV expanded to every prompt, and only the distinct
        suffixes are prefilled (left-padded after the prefix; padding is masked and position ids
        stay contiguous, so the logits equal a separate prefill's up to float rounding).
        """
        torch = self._torch
        shared = 0
        if self.share_prefix and len(unique) > 1:
            shared = _common_prefix_len(unique)
            shared = min(shared, min(len(p) for p in unique) - 1)  # every prompt keeps >= 1 own token
        if shared >= self.min_shared_prefix:
            prefix = torch.tensor([unique[0][:shared]], device=self.device)
            out = self.model(input_ids=prefix, attention_mask=torch.ones_like(prefix),
                             position_ids=torch.arange(shared, device=self.device)[None], use_cache=True)
            cache = getattr(out, self._cache_kw)
            cache.batch_select_indices(torch.zeros(len(unique), dtype=torch.long, device=self.device))
            input_ids, suffix_mask = self._left_pad([p[shared:] for p in unique])
            positions = shared + (suffix_mask.cumsum(-1) - 1).clamp(min=0)
            mask = torch.cat([torch.ones((len(unique), shared), dtype=suffix_mask.dtype, device=self.device),
                              suffix_mask], dim=1)
            out = self.model(input_ids=input_ids, attention_mask=mask, position_ids=positions,
                             use_cache=True, **{self._cache_kw: cache})
            self.stats["prefill_tokens"] += shared + sum(len(p) - shared for p in unique)
        else:
            input_ids, mask = self._left_pad(unique)
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            out = self.model(input_ids=input_ids, attention_mask=mask, position_ids=positions, use_cache=True)
            self.stats["prefill_tokens"] += sum(len(p) for p in unique)
        self.stats["prefills"] += len(unique)
        return getattr(out, self._cache_kw), out.logits[:, -1, :], mask, positions[:, -1]

    def _left_pad(self, sequences: list[list[int]]) -> tuple[Any, Any]:
        """``[B, W]`` input ids and attention mask, sequences right-aligned (left padding)."""
        torch = self._torch
        width = max(len(p) for p in sequences)
        input_ids = torch.full((len(sequences), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(sequences), width), dtype=torch.long)
        for r, ids in enumerate(sequences):
            input_ids[r, width - len(ids):] = torch.tensor(ids, dtype=torch.long)
            mask[r, width - len(ids):] = 1
        return input_ids.to(self.device), mask.to(self.device)

    def _hits_stop(self, row: _Row, stop: Sequence[str], max_stop: int) -> bool:
        tail = self.tokenizer.decode(row.tokens[-(max_stop + 8):], skip_special_tokens=True)
        return any(s and s in tail for s in stop)

    def _finish(self, row: _Row, prompt: list[int], params: SamplingParams) -> Generation:
        tokens, logprobs = row.tokens, row.logprobs
        body = tokens[:-1] if tokens and tokens[-1] in self.eos_ids else tokens
        text = self.tokenizer.decode(body, skip_special_tokens=True)
        stop_hit = None
        if params.stop:
            cut = len(text)
            for s in params.stop:
                k = text.find(s) if s else -1
                if 0 <= k < cut:
                    cut, stop_hit = k, s
            if stop_hit is not None:
                text = text[:cut]
                keep = tokens_within(self.tokenizer, body, cut)
                tokens, logprobs = body[:keep], logprobs[:keep]
                row.finish_reason = "stop"
        metadata: dict[str, Any] = {"stop": stop_hit} if stop_hit else {}
        if params.temperature == 0:
            metadata["logprobs_of"] = "unprocessed"  # greedy: see the module docstring
        return Generation(
            text=text,
            token_ids=list(tokens),
            logprobs=[float(x) for x in logprobs] if params.logprobs else None,
            finish_reason=row.finish_reason or "length",
            prompt_token_ids=list(prompt),
            metadata=metadata,
        )

    # -- teacher forcing ---------------------------------------------------------------------------
    def token_logprobs(
        self,
        prompt_token_ids: Sequence[int],
        token_ids: Sequence[int],
        params: SamplingParams | None = None,
        *,
        role: str | None = None,
        grad: bool = False,
    ) -> Any:
        """Teacher-forced log-probs of ``token_ids`` after ``prompt_token_ids``.

        Same processing as sampling (``params``' temperature/top-k/top-p; default: temperature 1).
        Returns ``list[float]`` (length ``len(token_ids)``), or a 1-D tensor that carries gradients
        when ``grad=True``. Matches ``Generation.logprobs`` within float tolerance.
        """
        torch = self._torch
        params = params or SamplingParams()
        if not token_ids:
            return torch.zeros(0) if grad else []
        ids = torch.tensor([list(prompt_token_ids) + list(token_ids)], device=self.device)
        context = torch.enable_grad() if grad else torch.inference_mode()
        with context, self._activate(role if role is not None else self.default_role):
            logits = self.model(input_ids=ids).logits[0, len(prompt_token_ids) - 1:-1]
            logp = process_logits(logits, params.temperature, params.top_k, params.top_p)
            picked = logp.gather(-1, torch.tensor(list(token_ids), device=self.device)[:, None]).squeeze(-1)
        return picked if grad else [float(x) for x in picked.tolist()]

    def __repr__(self) -> str:
        name = getattr(self.model.config, "_name_or_path", "") or type(self.model).__name__
        return f"HFPolicy({name!r}, device={self.device}, dtype={self.dtype})"


class HFRoleView(ActMixin):
    """``HFPolicy.for_role(role)``: the same model and weights, generating with ``role``'s adapter."""

    def __init__(self, policy: HFPolicy, role: str) -> None:
        self.policy = policy
        self.role = role

    @property
    def model(self) -> Any:
        return self.policy.model

    @property
    def tokenizer(self) -> Any:
        return self.policy.tokenizer

    def generate(self, prompts: Sequence[Conversation], params: SamplingParams | None = None, *,
                 prompt_offset: int = 0) -> list[Generation]:
        return self.policy.generate(prompts, params, role=self.role, prompt_offset=prompt_offset)

    def token_logprobs(self, prompt_token_ids: Sequence[int], token_ids: Sequence[int],
                       params: SamplingParams | None = None, *, grad: bool = False) -> Any:
        return self.policy.token_logprobs(prompt_token_ids, token_ids, params, role=self.role, grad=grad)


