"""Pure modules import no Django: checked in a fresh interpreter, where nothing else has
imported it first."""

import subprocess
import sys

from tests.support.servers import REPO


def django_modules_imported_by(*modules: str) -> list[str]:
    code = (f"import sys, {', '.join(modules)}\n"
            "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] == 'django')))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, cwd=REPO)
    return [name for name in result.stdout.strip().split(",") if name]
