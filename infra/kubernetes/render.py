"""Fill the ${NAME} placeholders of the manifests beside this file from `terraform output -json kubernetes_values`.

    terraform -chdir=infra/terraform/environments/gke-example output -json kubernetes_values \\
        | python3 infra/kubernetes/render.py OUT_DIR
    kubectl apply -k OUT_DIR

Only ${NAME} with an upper-case NAME is a placeholder (a shell's $VAR in a container's command is left alone).
A placeholder without a value, or a value that is not a plain string, is refused: nothing is written then.
Stdlib only: it runs wherever Terraform's output does.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PLACEHOLDER = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")
SAFE_VALUE = re.compile(r"^[A-Za-z0-9._:/@-]+$")  # names, addresses, CIDRs, image references, e-mails


def render(text: str, values: dict[str, str]) -> str:
    missing = sorted({name for name in PLACEHOLDER.findall(text) if name not in values})
    if missing:
        raise ValueError(f"no value for {', '.join(missing)}")
    return PLACEHOLDER.sub(lambda match: values[match.group(1)], text)


def checked(values: object) -> dict[str, str]:
    if not isinstance(values, dict):
        raise ValueError("expected a JSON object of placeholder values")
    for name, value in values.items():
        if not isinstance(value, str) or not SAFE_VALUE.match(value):
            raise ValueError(f"{name}: {value!r} is not a plain name, address or image reference")
    return values


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    out = Path(argv[0])
    try:
        values = checked(json.load(sys.stdin))
        rendered = {path.name: render(path.read_text(), values) for path in sorted(HERE.glob("*.yaml"))}
    except (ValueError, json.JSONDecodeError) as exc:
        print(f"render: {exc}", file=sys.stderr)
        return 1
    out.mkdir(parents=True, exist_ok=True)
    for name, text in rendered.items():
        (out / name).write_text(text)
    print(f"render: {len(rendered)} manifests in {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
