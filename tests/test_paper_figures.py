"""The authors' published figures for every data set (tools/evaluate/paper.py):
the tables parse into the data set's class columns, their means agree with
their per-class values, every row names its source, the released model's row
is found per split, and `tools.evaluate --compare` lists them for each data set."""
import csv

import numpy as np
import pytest

from helpers import run_module
from prototxt_gen.spec.datasets import DATASETS
from tools.evaluate.paper import FINAL, TABLES, final, published, table_rows
from tools.evaluate.tables import Row, shown_columns, text_table
from tools.palettes import names, write_labels


def test_every_data_set_has_tables_in_its_class_columns():
    assert set(TABLES) == set(DATASETS) == set(FINAL)
    for dataset, tables in TABLES.items():
        classes = names(dataset)
        for table in tables:
            assert table.split in ("val", "test"), table.source
            assert list(table.columns) == [c for c in classes if c in table.columns], \
                "%s: columns are %s's classes, in its order" % (table.source, dataset)
            # the urban tables print every class; VOC's all but background
            assert set(classes) - set(table.columns) == (
                {"background"} if dataset == "pascal_voc" else set()), table.source


def test_every_row_has_one_value_per_column_plus_mean_and_a_source():
    for dataset, tables in TABLES.items():
        rows = published(dataset)
        assert len(rows) == sum(len(table.text.strip().splitlines()) for table in tables)
        for table in tables:
            for row in table_rows(table):
                assert row.source == table.source and "Table" in row.source
                assert list(row.ious) == list(table.columns)
                assert all(0 <= v <= 100 for v in list(row.ious.values()) + [row.mean])


def test_a_row_short_of_a_value_is_refused():
    table = TABLES["camvid"][0]
    broken = table._replace(text="Dilation8 | 82.6 76.2 89.9 65.3\n")
    with pytest.raises(ValueError, match="4 numbers for 11 columns"):
        table_rows(broken)


def test_means_recompute_from_complete_rows():
    """Per-class values and means are each rounded to 0.1, so they agree within
    0.1 at worst; every printed row agrees within 0.05, which a mistyped value
    of one class by a whole point would break for most tables."""
    checked = 0
    for dataset, tables in TABLES.items():
        for table in tables:
            if len(table.columns) < len(names(dataset)):
                continue  # VOC: the mean covers background, which is not printed
            for row in table_rows(table):
                assert np.mean(list(row.ious.values())) == pytest.approx(row.mean, abs=0.05), \
                    (table.source, row.name)
                checked += 1
    assert checked == 6 + 3 + 2  # CamVid, KITTI, Cityscapes val and test


def test_the_released_models_rows():
    found = {(d, split): final(d, split) for d in FINAL for split in FINAL[d]}
    assert {k: (r.name, r.mean) for k, r in found.items()} == {
        ("pascal_voc", "val"): ("Front + Large", 72.1),
        ("pascal_voc", "test"): ("Context", 73.5),
        ("camvid", "test"): ("Dilation8", 65.3),
        ("kitti", "val"): ("Dilation7", 59.2),
        ("cityscapes", "val"): ("Dilation10", 68.7),
        ("cityscapes", "test"): ("Dilation10", 67.1)}
    assert found["camvid", "test"].source == "paper v3, Table 5 (CamVid test)"
    assert found["camvid", "test"].ious["sky"] == 89.9
    assert found["kitti", "val"].ious["pedestrian"] == 4.6
    assert found["cityscapes", "test"].ious["wall"] == 37.3
    assert found["cityscapes", "test"].metrics == {
        "class iIoU": 42.0, "category IoU": 86.5, "category iIoU": 71.1}
    assert found["cityscapes", "val"].metrics == {"category IoU": 86.3}
    assert final("camvid", "val") is None and final("kitti", "test") is None
    assert [r.name for r in published("pascal_voc", "val")][:3] == [
        "Front end", "Front + Basic", "Front + Large"]
    assert {r.source for r in published("cityscapes", "val")} == {
        "paper v3, Tables 7, 8 (Cityscapes val)"}


def test_metrics_columns_follow_mean_iou_and_align():
    columns = shown_columns(names("cityscapes"))
    ours = Row("ours", "mine", dict(zip(columns, [50.0] * 19)), 50.0)
    lines = text_table([ours] + published("cityscapes"), columns).splitlines()
    assert lines[0].split()[-8:] == ["mean", "IoU", "class", "iIoU", "category", "IoU",
                                     "category", "iIoU"]
    assert lines[2].split()[-4:] == ["50.0", "-", "-", "-"]          # ours: no such metrics
    assert lines[4].split()[-4:] == ["68.7", "-", "86.3", "-"]       # val: category IoU only
    assert lines[6].split()[-4:] == ["67.1", "42.0", "86.5", "71.1"]
    assert len({len(line) for line in lines if not line.startswith("[")}) == 1, "columns align"


# ---- the command line, on one tiny pair per data set --------------------------------

@pytest.mark.parametrize("dataset", sorted(DATASETS))
def test_compare_lists_the_published_rows_under_ours(tmp_path, dataset):
    truth = np.zeros((6, 8), dtype=np.uint8)
    truth[:, 4:] = 1
    pred = truth.copy()
    pred[:, 4:6] = 0
    write_labels(tmp_path / "truth.png", truth, dataset)
    write_labels(tmp_path / "pred.png", pred, dataset)
    (tmp_path / "pairs.txt").write_text("pred.png truth.png\n")
    out = run_module("tools.evaluate", "pairs.txt", "--dataset", dataset, "--compare",
                     "--name", "toy", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    with open(tmp_path / "evaluation" / "iou.csv") as f:
        reader = csv.DictReader(f)
        header, rows = reader.fieldnames, list(reader)
    expected = published(dataset)
    metrics = ["class iIoU", "category IoU", "category iIoU"] if dataset == "cityscapes" else []
    assert header == ["source", "name"] + names(dataset) + ["mean IoU"] + metrics
    assert rows[0]["name"] == "toy" and rows[0]["source"].startswith("this evaluation")
    # class 0: TP 24, FP 12 -> 2/3; class 1: TP 12, FN 12 -> 1/2
    assert float(rows[0]["mean IoU"]) == pytest.approx((200 / 3 + 50) / 2, abs=0.01)
    assert [(r["source"], r["name"]) for r in rows[1:]] == [(r.source, r.name) for r in expected]
    for row, paper in zip(rows[1:], expected):
        for column in names(dataset):
            value = paper.ious.get(column)
            assert row[column] == ("" if value is None else "%.2f" % value), column
        assert float(row["mean IoU"]) == paper.mean
        for metric in metrics:
            value = (paper.metrics or {}).get(metric)
            assert row[metric] == ("" if value is None else "%.2f" % value)
    table = [line for line in out.stdout.splitlines()
             if not line.startswith(("background IoU", "wrote "))]
    assert [line for line in table if line.startswith("[")] == [
        "[this evaluation, 1 images]"] + ["[%s]" % t.source for t in TABLES[dataset]]
    assert len({len(line) for line in table if not line.startswith("[")}) == 1, "columns align"
    html = (tmp_path / "evaluation" / "report.html").read_text()
    assert all(r.name in html for r in expected)
    assert "<th>mean IoU</th>" + "".join("<th>%s</th>" % m for m in metrics) + "</tr>" in html
