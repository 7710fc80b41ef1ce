#!/usr/bin/env bash
# The reverse-modeling scorers' GPU profile (issue 18): a forward and a reverse scorer of about
# 35 M parameters each, 512-token context, one pass over the demo corpus (10 M tokens per
# direction), trained from scratch (no pretrained weights to carry), then the coherence
# benchmark at their context.
#
# Here, once (needs the embedded corpora and PyPI):
#     benchmarks/scorers_gpu.sh prepare          # writes .gpu/: corpus, benchmark texts, wheels
# On the lent machine (device tool: carry [".gpu"]):
#     bash benchmarks/scorers_gpu.sh run         # $OUT/: curves.json, steps.yaml, coherence.txt
# Anything after the verb is passed to train-scorers (e.g. --joint, --set steps=1200); with
# SCORERS_PROFILE=paper the same script checks itself on a CPU in minutes.
set -euo pipefail
verb=${1:-}
shift || true
here=$(cd "$(dirname "$0")/.." && pwd)
data=$here/.gpu
python=${PYTHON:-python3}
[ "$verb" = prepare ] && [ -z "${PYTHON:-}" ] && [ -x "$here/.venv/bin/python" ] && python=$here/.venv/bin/python

case "$verb" in
prepare)
    mkdir -p "$data/wheels"
    grep -qx '/.gpu/' "$here/.git/info/exclude" 2>/dev/null || echo '/.gpu/' >> "$here/.git/info/exclude"
    "$python" -c "from goldpan.data.demo_corpus import build_demo_corpus as b; b('$data/corpus.jsonl')"
    "$python" "$here/benchmarks/coherence.py" --save-texts "$data/texts.json" \
        --corpus "$data/corpus.jsonl"
    # What goldpan needs that the machine's image lacks (its list: device/KINDS.md), for its
    # Python (3.12); the versions are this environment's.
    wheels=()
    for name in pydantic pydantic_core annotated-types typing-inspection orjson zstandard ftfy \
                wcwidth xxhash; do
        wheels+=("$name==$("$python" -c "import importlib.metadata as m; print(m.version('$name'))")")
    done
    "$python" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 -d "$data/wheels" "${wheels[@]}"
    du -sh "$data"
    ;;
run)
    out=${OUT:-$here/runs/scorers-gpu}
    mkdir -p "$out"
    if ! "$python" -c "import pydantic, orjson, ftfy, xxhash, zstandard" 2>/dev/null; then
        "$python" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
            --target /tmp/site "$data"/wheels/*.whl
        export PYTHONPATH=/tmp/site
    fi
    export PYTHONPATH=$here/src${PYTHONPATH:+:$PYTHONPATH} HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
    scorers=${SCORERS_DIR:-/tmp/scorers}
    profile=${SCORERS_PROFILE:-gpu}
    "$python" -c "import torch; print('device:', torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'cpu')"
    start=$(date +%s)
    "$python" -m goldpan train-scorers --data "$data/corpus.jsonl" --out "$scorers" \
        --profile "$profile" "$@"
    trained=$(date +%s)
    context=$("$python" -c "import json; print(json.load(open('$scorers/curves.json'))['config']['max_length'])")
    if [ -d "$scorers/joint" ]; then models=(--joint "$scorers/joint")
    else models=(--forward "$scorers/forward" --reverse "$scorers/reverse"); fi
    "$python" "$here/benchmarks/coherence.py" --texts "$data/texts.json" "${models[@]}" \
        --max-length "$context" | tee "$out/coherence.txt"
    echo "train $((trained - start)) s, benchmark $(($(date +%s) - trained)) s" | tee -a "$out/coherence.txt"
    cp "$scorers/curves.json" "$scorers/steps.yaml" "$out/"
    ;;
*)
    echo "usage: $0 prepare | run [train-scorers options]" >&2
    exit 2
    ;;
esac
