#!/usr/bin/env bash
# Checks the Helm chart in helm/proglog and the Dockerfile, offline:
# `helm lint --strict` and `helm template` with the default values and with
# each ci/*.yaml values file, every rendered object validated strictly
# against the Kubernetes schemas, and the chart, the Dockerfile and
# .dockerignore checked against each other (check_chart.py says exactly what).
#
#   chapters/chapter-09/deploy/check-chart.sh
#
# Needs: bash, python3 >= 3.10 with the venv module (Debian: apt-get install
# python3-venv), and PyPI. No Helm, no Docker, no cluster, no other network:
# Helm comes as a library inside the helm-python-sdk wheel, the Kubernetes
# schemas inside the kubernetes-validate wheel, BuildKit's Dockerfile parser
# inside the dockerfile wheel. The virtualenv is kept between runs in
# $PROGLOG_CHART_VENV (default: ${TMPDIR:-/tmp}/proglog-chart-venv).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
venv="${PROGLOG_CHART_VENV:-${TMPDIR:-/tmp}/proglog-chart-venv}"

# ANCHOR: setup
# A private virtualenv with the checkers, pinned (all three are on PyPI).
if [[ ! -x "$venv/bin/python" ]]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  helm-python-sdk==0.2.2 kubernetes-validate==1.37.0 dockerfile==3.4.0
# ANCHOR_END: setup

# ANCHOR: run
# Lint, render, validate and cross-check; exits non-zero on any failure.
"$venv/bin/python" "$here/check_chart.py"
# ANCHOR_END: run
