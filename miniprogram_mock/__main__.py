"""`python -m miniprogram_mock`: the stand-in mini-program platform on its own port (see platform.py)."""

from miniprogram_mock.platform import main

if __name__ == "__main__":
    main()
