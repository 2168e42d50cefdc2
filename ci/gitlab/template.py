"""Load ci/gitlab/mlcanary.gitlab-ci.yml as GitLab does for an `include:` without `inputs:`: the
`spec:` header document gives each input's default, and every `$[[ inputs.NAME ]]` in the job
document is replaced by it. Used by ci/gitlab/test-template.sh and scripts/action/check-yaml.py.
"""

import re

import yaml

INPUT = re.compile(r"\$\[\[\s*inputs\.([A-Za-z0-9_-]+)\s*\]\]")


def load(text, given=None):
    """(spec inputs, job document) with the inputs interpolated (`given` overrides defaults)."""
    header, body = text.split("\n---\n", 1)
    spec = yaml.safe_load(header)["spec"]["inputs"]
    values = {k: v.get("default") for k, v in spec.items()}
    values.update(given or {})

    def value(m):
        name = m.group(1)
        if name not in values or values[name] is None:
            raise KeyError(f"input {name} has no value")
        v = values[name]
        return str(v).lower() if isinstance(v, bool) else str(v)

    return spec, yaml.safe_load(INPUT.sub(value, body))
