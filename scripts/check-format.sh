#!/usr/bin/env bash
# Fails if any tracked C++ file is not clang-formatted (.clang-format). Fix with:
#   git ls-files '*.h' '*.cc' | xargs clang-format -i
set -euo pipefail
cd "$(dirname "$0")/.."
bad=$(git ls-files '*.h' '*.cc' | while read -r f; do
  clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || echo "$f"
done)
if [[ -n $bad ]]; then
  echo "check-format: these files are not clang-formatted:" >&2
  echo "$bad" >&2
  echo "fix with: git ls-files '*.h' '*.cc' | xargs clang-format -i" >&2
  exit 1
fi
echo "check-format: $(git ls-files '*.h' '*.cc' | wc -l) files formatted"
