"""Fail if a log file holds a secret the tests use.

Usage: python -m tests.support.scan_log_for_secrets FILE
"""

import sys
from pathlib import Path

from tests.support.secrets import TEST_SECRETS


def main(path: str) -> int:
    text = Path(path).read_text(errors="replace")
    leaked = [secret for secret in TEST_SECRETS if secret in text]
    if leaked:
        print(f"{path}: {len(leaked)} plaintext secret(s) found in the test logs", file=sys.stderr)
        return 1
    print(f"{path}: no plaintext secret in {len(text.splitlines())} log lines")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
