"""Preflight: check that a run can work before it claims any task.

``isollm doctor`` runs these checks and prints them; ``isollm run`` runs the same ones
before its first claim and stops with the fix when one fails, so a setup problem (a
missing key, a failing ``sandbox.setup``, an unreachable model) costs no task an
attempt. Each check is a small function returning a :class:`~isollm.doctor.model.Check`;
:mod:`isollm.doctor.preflight` collects them (the cheap ones in parallel with the
sandbox's), and the CLI renders the :class:`~isollm.doctor.model.Report` last.

- :mod:`~isollm.doctor.host`: what the host alone can tell (agent found, credentials,
  root + unsandboxed Claude Code);
- :mod:`~isollm.doctor.endpoint`: the model API answers;
- :mod:`~isollm.doctor.sandbox`: a throwaway sandbox starts, runs ``sandbox.setup`` and
  the agent's CLI, as the run would start them.
"""
