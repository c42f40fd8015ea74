# The two commands that matter (each sets itself up on a fresh machine):
#   make demo   run the default job: a real search on configs/default.yaml (CPU: 5 to 6.5 minutes on 2 cores that
#               compute bf16, about 6.5 to 8 on cores that do not; up to 13 on a slower machine)
#   make test   run the test suite (lint first)
.PHONY: setup demo lint test
setup:
	bash scripts/setup.sh

demo: setup
	.venv/bin/foretune search configs/default.yaml --out runs/demo

lint: setup
	.venv/bin/ruff check foretune tests benchmarks examples
	.venv/bin/ruff format --check foretune tests benchmarks examples

test: lint
	.venv/bin/python -m pytest -q
