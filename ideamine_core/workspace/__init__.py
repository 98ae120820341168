"""The run's code workspace and the real tools on it: path policy, git repository, sandbox, tests, scanners.

- `policy.PathPolicy` / `check_path`: which proposed paths may be written; writes never follow links.
- `repo.Workspace`: one git repository per run; `write_files` (through the policy) and `commit` → SHA.
- `sandbox.Sandbox`: setpriv → prlimit → bubblewrap, with loud fallbacks; `Limits`.
- `testing.run_tests`: QA's own copy of the tests, pytest + coverage in the sandbox → `TestExecution`.
- `scanners.scan_workspace` / `scan`: bandit, detect-secrets, the SBOM (cyclonedx-py), injection rules.
- `reports`: the security agents' output models from scanner results; `findings`: gate metrics.
- `injection.sanitize`: strip invisible Unicode, flag prompt-injection payloads.
"""
