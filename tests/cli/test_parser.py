"""Command line and --config: defaults from methods.md, TOML values, the command line winning."""

import pytest

from ketamine_fc.cli.parser import parse_args
from ketamine_fc.cli.run import main, plugin_settings
from ketamine_fc.config import dump_toml, load_toml
from ketamine_fc.errors import InputError


def test_defaults_follow_methods(tmp_path):
    s = parse_args([str(tmp_path), str(tmp_path / "out"), "participant"])
    d = s.denoise
    assert (d.fd_thresh, d.min_contig, d.lower_bpf, d.upper_bpf, d.nuisance_regressors) == (0.2, 5, 0.009, 0.08, "36P")
    assert d.subcortical_cleanup and d.adjacent_cortex_mm == 20.0 and d.bandpass and d.dummy_scans == "auto"
    assert s.atlas.sgacc == (123, 280, 286) and s.atlas.hippocampus_split_y == -21.0
    assert s.inclusion.min_frames == 240 and s.task == "rest" and s.space == "MNI152NLin6Asym"
    assert s.inclusion.min_coverage == 0.5 and s.atlas.min_region_coverage == 0.5
    assert s.fmriprep_dir == tmp_path / "derivatives" / "fmriprep"


def test_config_file_then_command_line_wins(tmp_path):
    cfg = tmp_path / "study.toml"
    cfg.write_text('fd_thresh = 0.3\nnuisance_regressors = "24P"\nsgacc = "extended"\n'
                   '[group]\nresponse_timepoint = "week4"\n')
    s = parse_args([str(tmp_path), str(tmp_path / "o"), "participant", "--config", str(cfg), "--fd-thresh", "0.5"])
    assert s.denoise.fd_thresh == 0.5
    assert s.denoise.nuisance_regressors == "24P"
    assert s.atlas.sgacc == (117, 123, 125, 279, 280, 286)
    assert s.group.response_timepoint == "week4"


def test_unknown_config_key_is_named(tmp_path):
    cfg = tmp_path / "bad.toml"
    cfg.write_text("fd_treshold = 0.3\n")
    with pytest.raises(InputError, match=r"bad.toml: unknown setting\(s\) fd_treshold \(did you mean fd_thresh\?\)"):
        parse_args([str(tmp_path), str(tmp_path / "o"), "participant", "--config", str(cfg)])


def test_space_resolution_and_unsupported_space(tmp_path):
    s = parse_args([str(tmp_path), str(tmp_path / "o"), "participant", "--space", "MNI152NLin2009cAsym:res-2"])
    assert (s.template, s.res) == ("MNI152NLin2009cAsym", "2")
    with pytest.raises(SystemExit) as err:  # a usage error: argparse names the option and exits with 2
        main([str(tmp_path), str(tmp_path / "o"), "participant", "--space", "T1w"])
    assert err.value.code == 2


def test_sgacc_list_and_bad_values(tmp_path):
    s = parse_args([str(tmp_path), str(tmp_path / "o"), "participant", "--sgacc", "280,123"])
    assert s.atlas.sgacc == (123, 280)
    with pytest.raises(SystemExit):
        parse_args([str(tmp_path), str(tmp_path / "o"), "participant", "--sgacc", "999"])


def test_plugins(tmp_path):
    s = parse_args([str(tmp_path), str(tmp_path / "o"), "participant", "--nprocs", "4", "--mem-gb", "8"])
    assert plugin_settings(s) == ("MultiProc", {"n_procs": 4, "memory_gb": 8.0})
    s = parse_args([str(tmp_path), str(tmp_path / "o"), "participant", "--plugin", "SLURM",
                    "--plugin-args", '{"sbatch_args": "-p normal"}'])
    assert plugin_settings(s) == ("SLURM", {"sbatch_args": "-p normal"})


def test_settings_roundtrip_through_toml(tmp_path):
    s = parse_args([str(tmp_path), str(tmp_path / "o"), "participant", "--fd-thresh", "0.25", "--dummy-scans", "3"])
    path = tmp_path / "config.toml"
    path.write_text(dump_toml(s))
    flat = load_toml(path)
    assert flat["fd_thresh"] == 0.25 and flat["dummy_scans"] == 3 and flat["analysis_level"] == "participant"


def test_missing_derivatives_is_one_clear_error(tmp_path, capsys):
    (tmp_path / "bids").mkdir()
    code = main([str(tmp_path / "bids"), str(tmp_path / "out"), "participant", "-w", str(tmp_path / "work")])
    err = capsys.readouterr().err
    assert code == 1
    assert "no fMRIPrep derivatives here" in err and "Traceback" not in err


def test_missing_bids_dir_and_unknown_plugin_are_one_clear_error(tmp_path, capsys):
    assert main([str(tmp_path / "nowhere"), str(tmp_path / "out"), "participant"]) == 1
    assert "nowhere: the BIDS directory does not exist" in capsys.readouterr().err
    (tmp_path / "bids").mkdir()
    assert main([str(tmp_path / "bids"), str(tmp_path / "out"), "participant", "-w", str(tmp_path / "w"),
                 "--plugin", "Slurm"]) == 1
    err = capsys.readouterr().err
    assert "--plugin Slurm is not a Nipype plugin (available: " in err and "SLURM" in err
    assert not (tmp_path / "out" / "logs").exists()


def test_usage_errors_exit_with_2(tmp_path, capsys):
    (tmp_path / "bids").mkdir()
    base = [str(tmp_path / "bids"), str(tmp_path / "out"), "participant"]
    cfg = tmp_path / "bad.toml"
    cfg.write_text("fd_thresh = -1\n")
    for extra, text in ((["--lower-bpf", "0.1", "--upper-bpf", "0.05"], "--lower-bpf (0.1 Hz) must be below"),
                        (["--motion-filter-type", "notch"], "needs --band-stop-min"),
                        (["--config", str(cfg)], "setting fd_thresh: must be >= 0"),
                        (["--config", str(tmp_path / "absent.toml")], "the --config file does not exist")):
        assert main(base + extra) == 2
        err = capsys.readouterr().err
        assert text in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_progress_ignores_steps_that_never_started(caplog):
    from ketamine_fc.cli.run import Progress

    class Node:
        name, fullname = "connectivity", "ketamine_fc_wf.sub_01_wf.ses_pre1_fc_wf.connectivity"

    import logging

    progress = Progress(3)
    logger = logging.getLogger("ketamine_fc")  # the CLI stops it propagating: listen to it directly
    logger.addHandler(caplog.handler)
    try:
        with caplog.at_level("INFO", logger="ketamine_fc"):
            progress(Node(), "end")  # Nipype's Linear plugin reports a skipped step as ended
            assert progress.done == 0 and not caplog.records
            progress(Node(), "start")
            progress(Node(), "end")
    finally:
        logger.removeHandler(caplog.handler)
    assert progress.done == 1 and "computing FC and network measures done" in caplog.records[-1].getMessage()
