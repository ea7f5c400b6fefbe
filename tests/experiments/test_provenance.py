from core.provenance import provenance


def test_provenance_records_versions_and_commit():
    p = provenance()
    for pkg in ("python", "torch", "mujoco", "robosuite", "gymnasium"):
        assert p["versions"][pkg], pkg
    assert p["versions"]["mujoco"] == "3.9.0"
    assert p["versions"]["robosuite"] == "1.5.2"
    commit = p["git"]["commit"]
    assert commit is None or len(commit) == 40
