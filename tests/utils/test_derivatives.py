"""Derivative writers: atomic, with sidecars, with normal permissions."""


def test_atomic_outputs_get_normal_permissions(tmp_path):
    import os

    from ketamine_fc.utils.derivatives import write_json

    umask = os.umask(0)
    os.umask(umask)
    path = write_json({"a": 1}, tmp_path / "x.json")
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask
    assert not list(tmp_path.glob(".x.json.*"))  # no temporary file left
