"""``python -m tf_nst`` is the ``tf-nst`` command."""

from tf_nst.cli import run

if __name__ == "__main__":
    run()
