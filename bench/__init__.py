"""The imghost benchmark that `make bench` runs (`python -m bench.run`).

See bench/README.md for what is measured and how to read the figures.
"""
