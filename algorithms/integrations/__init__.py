"""Adapters that let other trainers drive our envs and, where they can take it, our credit.

==========  =========================================================================================
``trl``     :class:`~algorithms.integrations.trl.TeamRollout`: TRL's ``GRPOTrainer`` trains one role of
            a team (e.g. MathDyad's reasoner) through its ``rollout_func`` extension point while the
            other roles are played by given policies in our env; the verifier's team reward, or our
            C3 / CCPO / GRPO credit, is what TRL optimises. Needs ``pip install 'llm-marl-envs[trl]'``.
==========  =========================================================================================

Each adapter imports its trainer lazily, so ``import algorithms.integrations`` costs nothing.
"""
