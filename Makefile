# The two commands that matter (each sets itself up on a fresh machine):
#   make demo   run the default job: a real search on configs/default.yaml (CPU, under ~10 minutes)
#   make test   run the test suite
.PHONY: setup demo test
setup:
	bash scripts/setup.sh

demo: setup
	.venv/bin/foretune search configs/default.yaml --out runs/demo

test: setup
	.venv/bin/python -m pytest -q
