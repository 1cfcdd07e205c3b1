"""EcotaxaServer through real HTTP: auth, projects, queries, vault, export jobs and their zips."""

from __future__ import annotations

import csv
import io
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pytest
import requests
from conftest import DATA

from awiml.testing import Fault
from awiml.testing.ecotaxa import EcotaxaServer

ECOTAXA = DATA / "ecotaxa"
BY_TAXON = ECOTAXA / "export_general_split_by_taxon_with_types_row"
BY_ACQ = ECOTAXA / "export_general_split_by_acquisition_all_images"
ML = Path(__file__).parents[1] / "awiml" / "data" / "ecotaxa_ml_template"
M106 = 106
PRIVATE = 7
TIMEOUT = 5


def read_export(folder: Path) -> tuple[pd.DataFrame, dict[str, Path]]:
    """Read real export TSVs (types row -> dtypes) into one table, with their images."""
    tables = []
    for tsv in sorted(folder.glob("*.tsv")):
        with open(tsv, encoding="utf-8-sig", newline="") as handle:
            header, types = next(csv.reader(handle, delimiter="\t")), None
            second = next(csv.reader(handle, delimiter="\t"))
            if set(second) <= {"[t]", "[f]"}:
                types = dict(zip(header, second, strict=True))
        dtype = {c: (float if t == "[f]" else str) for c, t in (types or {}).items()}
        table = pd.read_csv(
            tsv, sep="\t", encoding="utf-8-sig", skiprows=[1] if types else None,
            dtype=dtype or str, keep_default_na=False, na_values={c: [""] for c in dtype},
        )
        tables.append(table)
    table = pd.concat(tables, ignore_index=True)
    images = {name: folder / name for name in table["img_file_name"]}
    table["img_file_name"] = [name.split("/")[-1] for name in table["img_file_name"]]
    images = {name.split("/")[-1]: path for name, path in images.items()}
    return table, images


def login(server: EcotaxaServer, user: str = "alice", password: str = "secret") -> str:
    reply = requests.post(server.api_url + "/login", json={"username": user, "password": password},
                          timeout=TIMEOUT)
    assert reply.status_code == 200, reply.text
    return reply.json()


def auth(token: str | None) -> dict[str, str]:
    return {} if token is None else {"Authorization": f"Bearer {token}"}


def query(server: EcotaxaServer, projid: int, fields: str, filters: dict | None = None,
          token: str | None = None, **params) -> requests.Response:
    return requests.post(f"{server.api_url}/object_set/{projid}/query",
                         params={"fields": fields, **params}, json=filters or {},
                         headers=auth(token), timeout=TIMEOUT)


def export(server: EcotaxaServer, token: str | None, projid: int, filters: dict | None = None,
           **options) -> requests.Response:
    body = {"filters": filters or {}, "request": {"project_id": projid, **options}}
    return requests.post(server.api_url + "/object_set/export/general", json=body,
                         headers=auth(token), timeout=TIMEOUT)


def poll(server: EcotaxaServer, token: str, job_id: int) -> dict:
    reply = requests.get(f"{server.api_url}/jobs/{job_id}/", headers=auth(token), timeout=TIMEOUT)
    assert reply.status_code == 200, reply.text
    return reply.json()


def run_export(server: EcotaxaServer, token: str, projid: int, filters: dict | None = None,
               **options) -> zipfile.ZipFile:
    reply = export(server, token, projid, filters, **options)
    assert reply.status_code == 200, reply.text
    job_id = reply.json()["job_id"]
    for _ in range(20):
        if poll(server, token, job_id)["state"] == "F":
            break
    data = requests.get(f"{server.api_url}/jobs/{job_id}/file", headers=auth(token),
                        timeout=TIMEOUT)
    assert data.status_code == 200, data.text
    return zipfile.ZipFile(io.BytesIO(data.content))


@pytest.fixture(scope="module")
def m106() -> tuple[pd.DataFrame, dict[str, Path]]:
    return read_export(BY_TAXON)


@pytest.fixture(scope="module")
def ecotaxa(m106):
    """One server for the read-only tests: sample data, m106, a private project, two users."""
    table, images = m106
    with EcotaxaServer(job_steps=1) as server:
        server.add_sample_data()
        server.add_project(M106, "m106 ZooScan reference (ecotaxa_back QA)", table, images,
                           instrument="Zooscan")
        server.add_project(PRIVATE, "private copy of m106", table, images, visible=False,
                           members=["alice"])
        server.add_user("alice", "secret")
        server.add_user("bob", "hunter2", name="Bob B.", email="bob@example.net")
        yield server


@pytest.fixture
def small(m106):
    """A fresh server with m106 only, for tests that change the server's state."""
    table, images = m106
    with EcotaxaServer() as server:
        server.add_project(M106, "m106", table, images)
        server.add_user("alice", "secret")
        server.add_user("bob", "hunter2")
        yield server


# --------------------------------------------------------------------------- #
# Authentication and users
# --------------------------------------------------------------------------- #


def test_login_returns_a_token_and_users_me_names_the_user(ecotaxa):
    token = login(ecotaxa, "bob", "hunter2")
    assert isinstance(token, str) and len(token) >= 32
    me = requests.get(ecotaxa.api_url + "/users/me", headers=auth(token), timeout=TIMEOUT)
    assert me.status_code == 200
    assert {k: me.json()[k] for k in ("name", "email")} == {
        "name": "Bob B.", "email": "bob@example.net"}
    assert isinstance(me.json()["id"], int)
    assert login(ecotaxa, "bob", "hunter2") != token


@pytest.mark.parametrize("body", [{"username": "alice", "password": "wrong"},
                                  {"username": "nobody", "password": "secret"}])
def test_bad_credentials_get_403_and_no_password_in_logs(ecotaxa, body, caplog):
    caplog.set_level("DEBUG", logger="awiml.testing")
    reply = requests.post(ecotaxa.api_url + "/login", json=body, timeout=TIMEOUT)
    assert reply.status_code == 403
    assert "detail" in reply.json()
    assert body["password"] not in caplog.text
    recorded = [r for r in ecotaxa.requests if r.path == "/api/login"][-1]
    assert b"***" in recorded.body and body["password"].encode() not in recorded.body
    assert body["password"] not in repr(ecotaxa.requests)


def test_malformed_login_gets_422(ecotaxa):
    reply = requests.post(ecotaxa.api_url + "/login", json={"username": "alice"}, timeout=TIMEOUT)
    assert reply.status_code == 422


def test_token_route_does_not_exist(ecotaxa):
    for method in ("GET", "POST"):
        reply = requests.request(method, ecotaxa.api_url + "/token", timeout=TIMEOUT)
        assert reply.status_code == 404
        assert reply.json() == {"detail": "Not Found"}


def test_users_me_needs_a_valid_token(ecotaxa):
    assert requests.get(ecotaxa.api_url + "/users/me", timeout=TIMEOUT).status_code == 401
    reply = requests.get(ecotaxa.api_url + "/users/me", headers=auth("forged"), timeout=TIMEOUT)
    assert reply.status_code == 401 and "detail" in reply.json()


def test_expired_tokens_get_401_everywhere_until_login_again(small):
    token = login(small)
    assert small.expire_tokens() == 1
    for reply in (
        requests.get(small.api_url + "/users/me", headers=auth(token), timeout=TIMEOUT),
        requests.get(small.api_url + "/projects/search", headers=auth(token), timeout=TIMEOUT),
        query(small, M106, "obj.objid", token=token),
    ):
        assert reply.status_code == 401
    fresh = login(small)
    assert requests.get(small.api_url + "/users/me", headers=auth(fresh),
                        timeout=TIMEOUT).status_code == 200


# --------------------------------------------------------------------------- #
# Projects and taxonomy
# --------------------------------------------------------------------------- #


def test_sample_data_project(ecotaxa):
    reply = requests.get(ecotaxa.api_url + "/projects/1", timeout=TIMEOUT)
    project = reply.json()
    assert project["title"].startswith("EcoTaxa ML template: 400 plankton vignettes")
    assert project["visible"] is True and project["objcount"] == 400
    assert project["pctvalidated"] == 100.0
    assert len(project["obj_free_cols"]) == 48
    assert project["obj_free_cols"]["area"] == "n01"


def test_project_search_anonymous_member_and_not_granted(ecotaxa):
    def titles(token=None, **params):
        reply = requests.get(ecotaxa.api_url + "/projects/search", params=params,
                             headers=auth(token), timeout=TIMEOUT)
        assert reply.status_code == 200
        return [p["projid"] for p in reply.json()]

    alice, bob = login(ecotaxa), login(ecotaxa, "bob", "hunter2")
    assert titles() == [1, M106]
    assert titles(alice) == [1, PRIVATE, M106]
    assert titles(bob) == [1, M106]
    assert titles(alice, not_granted="true") == [1, M106]
    assert titles(alice, title_filter="M106") == [PRIVATE, M106]


def test_private_project_needs_membership(ecotaxa):
    alice, bob = login(ecotaxa), login(ecotaxa, "bob", "hunter2")
    for token in (None, bob):
        assert requests.get(f"{ecotaxa.api_url}/projects/{PRIVATE}", headers=auth(token),
                            timeout=TIMEOUT).status_code == 403
        assert query(ecotaxa, PRIVATE, "obj.objid", token=token).status_code == 403
    reply = requests.get(f"{ecotaxa.api_url}/projects/{PRIVATE}", headers=auth(alice),
                         timeout=TIMEOUT)
    assert reply.status_code == 200 and reply.json()["highest_right"] == "Manage"
    assert query(ecotaxa, PRIVATE, "obj.objid", token=alice).json()["total_ids"] == 12


def test_unknown_project_gets_404(ecotaxa):
    reply = requests.get(ecotaxa.api_url + "/projects/999", timeout=TIMEOUT)
    assert reply.status_code == 404 and "999" in reply.json()["detail"]
    assert query(ecotaxa, 999, "obj.objid").status_code == 404


def test_taxa_search_and_taxon_lineage(ecotaxa):
    found = requests.get(ecotaxa.api_url + "/taxa/search", params={"query": "copepo"},
                         timeout=TIMEOUT).json()
    assert [t["text"] for t in found] == ["Copepoda", "Copepoda<Multicrustacea", "Neocopepoda"]
    taxon = requests.get(f"{ecotaxa.api_url}/taxon/{found[0]['id']}", timeout=TIMEOUT).json()
    assert taxon["lineage"] == ["Copepoda", "Hexanauplia", "Multicrustacea", "Crustacea",
                                "Arthropoda", "Metazoa", "Holozoa", "Opisthokonta", "Eukaryota",
                                "living"]
    assert taxon["id_lineage"][0] == taxon["id"] and len(taxon["id_lineage"]) == 10
    assert taxon["nb_objects"] == 100
    egg = requests.get(ecotaxa.api_url + "/taxa/search", params={"query": "small"},
                       timeout=TIMEOUT).json()
    assert [t["text"] for t in egg] == ["small<egg"]
    assert requests.get(ecotaxa.api_url + "/taxon/99999", timeout=TIMEOUT).status_code == 404


# --------------------------------------------------------------------------- #
# Queries
# --------------------------------------------------------------------------- #


def test_query_fields_paging_order_and_total(ecotaxa):
    fields = "obj.orig_id,txo.display_name,obj.classif_qual,fre.area,sam.orig_id,img.file_name"
    reply = query(ecotaxa, 1, fields, window_start=10, window_size=5)
    assert reply.status_code == 200
    body = reply.json()
    assert body["total_ids"] == 400 and len(body["object_ids"]) == 5
    assert {len(body[k]) for k in ("acquisition_ids", "sample_ids", "project_ids")} == {5}
    labels = pd.read_csv(ML / "training_labels.csv")
    features = pd.read_csv(ML / "training_features.csv.gz")
    first = body["details"][0]
    ident = int(first[0].removeprefix("mltemplate_"))
    assert first[1] == labels.set_index("id").loc[ident, "label"]
    assert first[2] == "V"
    assert first[3] == features.set_index("id").loc[ident, "area"]
    assert first[4] == "training"
    assert first[5].count("/") == 1 and first[5].endswith(".jpg")
    ordered = query(ecotaxa, 1, "fre.area", order_field="-fre.area", window_size=3).json()
    areas = [row[0] for row in ordered["details"]]
    assert areas == sorted(areas, reverse=True)
    assert areas[0] == max(pd.concat([features, pd.read_csv(ML / "test_features.csv.gz")])["area"])


@pytest.mark.parametrize("fields", ["obj.nonsense", "fre.no_such_column", "obj.objid,,bogus"])
def test_unknown_field_gets_422(ecotaxa, fields):
    reply = query(ecotaxa, 1, fields)
    assert reply.status_code == 422 and "detail" in reply.json()


def test_bad_window_gets_422(ecotaxa):
    assert query(ecotaxa, 1, "obj.objid", window_size="many").status_code == 422


def m106_count(table: pd.DataFrame, mask) -> int:
    return int(mask(table).sum())


@pytest.mark.parametrize(
    ("filters", "mask"),
    [
        ({}, lambda t: t["object_id"].notna()),
        ({"statusfilter": "P"}, lambda t: t["object_annotation_status"] == "predicted"),
        ({"statusfilter": "V"}, lambda t: t["object_annotation_status"] == "validated"),
        ({"statusfilter": "NV"}, lambda t: t["object_annotation_status"] != "validated"),
        ({"statusfilter": "PV"}, lambda t: t["object_annotation_status"].isin(
            ["predicted", "validated"])),
        ({"MapN": "19", "MapS": "17", "MapE": "-24", "MapW": "-25"},
         lambda t: t["object_lat"].between(17, 19) & t["object_lon"].between(-25, -24)),
        ({"MapN": "10", "MapS": "0", "MapE": "10", "MapW": "0"}, lambda t: t["object_lat"] < -90),
        ({"statusfilter": "PVD"}, lambda t: t["object_annotation_status"] != ""),
        ({"statusfilter": "U"}, lambda t: t["object_annotation_status"] == ""),
        ({"statusfilter": "UP"}, lambda t: t["object_annotation_status"].isin(["", "predicted"])),
        ({"MapN": "19", "MapS": "17"}, lambda t: t["object_id"].notna()),  # needs all four
        ({"depthmin": "250", "depthmax": "700"},
         lambda t: t["object_depth_min"].between(250, 700)
         & t["object_depth_max"].between(250, 700)),
        ({"depthmin": "0", "depthmax": "600"},
         lambda t: t["object_depth_min"].between(0, 600) & t["object_depth_max"].between(0, 600)),
        ({"depthmax": "500"}, lambda t: t["object_id"].notna()),  # needs both
        ({"month": "4,5"}, lambda t: t["object_date"].str[5:7].isin(["04", "05"])),
        ({"month": "6"}, lambda t: t["object_date"].str[5:7] == "06"),
        ({"fromtime": "04:00", "totime": "05:00"},
         lambda t: t["object_time"].between("04:00:00", "05:00:00")),
        ({"fromtime": "04:00", "totime": "05:00", "inverttime": "1"},
         lambda t: (t["object_time"] <= "04:00:00") | (t["object_time"] >= "05:00:00")),
        ({"instrum": "zoo"}, lambda t: t["object_id"].notna()),
        ({"instrum": "uvp"}, lambda t: t["object_id"].isna()),
        ({"freenum": "on01", "freenumst": "10000"}, lambda t: t["object_by"] >= 10000),
        ({"freenum": "on02", "freenumend": "30"}, lambda t: t["object_width"] <= 30),
        ({"freetxt": "ot01", "freetxtval": "extra"},
         lambda t: t["object_extra"].str.contains("extra", case=False)),
        ({"freetxt": "ot01", "freetxtval": "^Extra3$"}, lambda t: t["object_extra"] == "Extra3"),
        ({"freetxt": "at01", "freetxtval": "^200"},
         lambda t: t["acq_cell_type"].str.startswith("200")),
        ({"fromdate": "2014-04-21"}, lambda t: t["object_date"] >= "2014-04-21"),
        ({"todate": "2014-04-20"}, lambda t: t["object_date"] <= "2014-04-20"),
        ({"fromdate": "2014-04-20", "todate": "2014-04-20", "unknown_key": "x"},
         lambda t: t["object_date"] == "2014-04-20"),
    ],
)
def test_query_filters_on_m106(ecotaxa, m106, filters, mask):
    table = m106[0]
    reply = query(ecotaxa, M106, "obj.orig_id,obj.objdate,obj.depth_max", filters)
    assert reply.status_code == 200, reply.text
    assert reply.json()["total_ids"] == m106_count(table, mask)


def test_query_values_on_m106(ecotaxa, m106):
    table = m106[0].set_index("object_id")
    body = query(ecotaxa, M106, "obj.orig_id,obj.latitude,obj.longitude,obj.objdate,obj.objtime,"
                 "obj.depth_min,obj.depth_max,acq.orig_id,txo.name,txo.display_name").json()
    assert len(body["details"]) == len(table)
    for orig_id, lat, lon, day, clock, dmin, dmax, acq, name, shown in body["details"]:
        row = table.loc[orig_id]
        assert (lat, lon, day, clock) == (row["object_lat"], row["object_lon"],
                                          row["object_date"], row["object_time"])
        assert (dmin, dmax, acq) == (row["object_depth_min"], row["object_depth_max"],
                                     row["acq_id"])
        assert shown == row["object_annotation_category"]
        assert name == row["object_annotation_hierarchy"].split(">")[-1]


def test_taxo_filter_with_and_without_children(ecotaxa, m106):
    table = m106[0]
    egg = next(t for t in requests.get(ecotaxa.api_url + "/taxa/search", params={"query": "egg"},
                                       timeout=TIMEOUT).json() if t["text"] == "egg<Actinopterygii")
    direct = query(ecotaxa, M106, "txo.display_name", {"taxo": str(egg["id"])}).json()
    assert direct["total_ids"] == 0
    below = query(ecotaxa, M106, "txo.display_name",
                  {"taxo": str(egg["id"]), "taxochild": "Y"}).json()
    expected = table["object_annotation_hierarchy"].str.contains(">egg>").sum()
    assert below["total_ids"] == expected == 2
    assert {row[0] for row in below["details"]} == {"small<egg"}


def test_samples_filter_takes_internal_ids(ecotaxa):
    body = query(ecotaxa, 1, "sam.orig_id,sam.sampleid").json()
    test_id = next(row[1] for row in body["details"] if row[0] == "test")
    only = query(ecotaxa, 1, "sam.orig_id", {"samples": str(test_id)}).json()
    assert only["total_ids"] == 80 and {r[0] for r in only["details"]} == {"test"}


def test_concurrent_queries(ecotaxa):
    with ThreadPoolExecutor(8) as pool:
        totals = list(pool.map(lambda _: query(ecotaxa, 1, "obj.objid").json()["total_ids"],
                               range(16)))
    assert totals == [400] * 16


# --------------------------------------------------------------------------- #
# The vault
# --------------------------------------------------------------------------- #


def test_vault_serves_the_real_images_with_ranges(ecotaxa, m106):
    body = query(ecotaxa, 1, "obj.orig_id,img.file_name,img.width,img.height",
                 window_size=3).json()
    for orig_id, path, width, height in body["details"]:
        original = (ML / "images" / (orig_id.removeprefix("mltemplate_") + ".jpg")).read_bytes()
        reply = requests.get(f"{ecotaxa.api_url}/vault/{path}", timeout=TIMEOUT)
        assert reply.status_code == 200 and reply.content == original
        assert reply.headers["Content-Type"] == "image/jpeg"
        assert width > 0 and height > 0
    part = requests.get(f"{ecotaxa.api_url}/vault/{path}", headers={"Range": "bytes=5-14"},
                        timeout=TIMEOUT)
    assert part.status_code == 206 and part.content == original[5:15]
    png = query(ecotaxa, M106, "img.file_name", {"fromdate": "2014-04-20"}).json()["details"]
    assert any(row[0].endswith(".png") for row in png)
    assert requests.get(f"{ecotaxa.api_url}/vault/9999/9999.jpg",
                        timeout=TIMEOUT).status_code == 404


# --------------------------------------------------------------------------- #
# Export jobs
# --------------------------------------------------------------------------- #


def test_export_needs_login(ecotaxa):
    reply = export(ecotaxa, None, 1)
    assert reply.status_code == 401 and "detail" in reply.json()


def test_export_of_a_private_project_needs_membership(ecotaxa):
    assert export(ecotaxa, login(ecotaxa, "bob", "hunter2"), PRIVATE).status_code == 403
    assert export(ecotaxa, login(ecotaxa), PRIVATE).status_code == 200


@pytest.mark.parametrize("options", [{"split_by": "planet"}, {"with_images": "some"},
                                     {"with_types_row": "yes"}, {"project_id": "x"}])
def test_invalid_export_request_gets_422(ecotaxa, options):
    body = {"filters": {}, "request": {"project_id": 1, **options}}
    reply = requests.post(ecotaxa.api_url + "/object_set/export/general", json=body,
                          headers=auth(login(ecotaxa)), timeout=TIMEOUT)
    assert reply.status_code == 422


def test_export_lifecycle_pending_running_finished(small):
    token = login(small)
    reply = export(small, token, M106)
    assert reply.status_code == 200
    assert reply.json()["errors"] == [] and reply.json()["warnings"] == []
    job_id = reply.json()["job_id"]
    early = requests.get(f"{small.api_url}/jobs/{job_id}/file", headers=auth(token),
                         timeout=TIMEOUT)
    assert early.status_code == 422
    states = [poll(small, token, job_id) for _ in range(4)]
    assert [s["state"] for s in states] == ["P", "R", "F", "F"]
    assert states[0]["progress_msg"] == "Waiting for a slot"
    assert 0 < states[1]["progress_pct"] < 100
    done = states[2]
    assert done["progress_pct"] == 100 and done["type"] == "GeneralExport"
    assert done["result"]["out_file"].startswith(f"export_{M106}_")
    assert done["result"]["out_file"].endswith(".zip")
    assert done["errors"] == [] and done["id"] == job_id
    assert small.job(job_id)["state"] == "F"
    listed = requests.get(small.api_url + "/jobs/", headers=auth(token), timeout=TIMEOUT).json()
    assert [j["id"] for j in listed] == [job_id]


def test_jobs_belong_to_their_owner(small):
    job_id = export(small, login(small), M106).json()["job_id"]
    assert requests.get(f"{small.api_url}/jobs/{job_id}/", timeout=TIMEOUT).status_code == 401
    bob = login(small, "bob", "hunter2")
    assert requests.get(f"{small.api_url}/jobs/{job_id}/", headers=auth(bob),
                        timeout=TIMEOUT).status_code == 403
    assert requests.get(f"{small.api_url}/jobs/{job_id}/file", headers=auth(bob),
                        timeout=TIMEOUT).status_code == 403
    assert requests.get(f"{small.api_url}/jobs/4242/", headers=auth(bob),
                        timeout=TIMEOUT).status_code == 404


def test_export_ending_in_error(small):
    token = login(small)
    small.next_export_outcome("E", errors=["Disk full", "Export aborted"])
    job_id = export(small, token, M106).json()["job_id"]
    states = [poll(small, token, job_id) for _ in range(4)]
    assert [s["state"] for s in states] == ["P", "R", "E", "E"]
    assert states[-1]["errors"] == ["Disk full", "Export aborted"]
    assert requests.get(f"{small.api_url}/jobs/{job_id}/file", headers=auth(token),
                        timeout=TIMEOUT).status_code == 422
    follow = export(small, token, M106).json()["job_id"]  # the outcome was used up
    assert [poll(small, token, follow)["state"] for _ in range(3)][-1] == "F"


def test_export_asking_a_question_then_answered(small):
    token = login(small)
    small.job_steps = 1
    small.next_export_outcome("A", question={"missing_users": ["x"]})
    job_id = export(small, token, M106).json()["job_id"]
    assert [poll(small, token, job_id)["state"] for _ in range(3)] == ["A", "A", "A"]
    assert poll(small, token, job_id)["question"] == {"missing_users": ["x"]}
    answered = requests.post(f"{small.api_url}/jobs/{job_id}/answer", json={"users": {}},
                             headers=auth(token), timeout=TIMEOUT)
    assert answered.status_code == 200
    assert poll(small, token, job_id)["state"] == "F"


def test_job_steps_zero_finishes_at_creation(small):
    small.job_steps = 0
    token = login(small)
    job_id = export(small, token, M106).json()["job_id"]
    assert small.job(job_id)["state"] == "F"
    assert requests.get(f"{small.api_url}/jobs/{job_id}/file", headers=auth(token),
                        timeout=TIMEOUT).status_code == 200


def test_export_by_taxon_matches_the_real_reference_bytes(ecotaxa):
    archive = run_export(ecotaxa, login(ecotaxa), M106, split_by="taxon", with_images="first",
                         with_types_row=True)
    names = archive.namelist()
    references = sorted(BY_TAXON.glob("*.tsv"))
    assert sorted(n for n in names if n.endswith(".tsv")) == sorted(p.name for p in references)
    for reference in references:
        assert archive.read(reference.name) == reference.read_bytes(), reference.name
    images = [n for n in names if not n.endswith((".tsv", ".log"))]
    assert len(images) == 12
    for name in images:
        assert archive.read(name) == (BY_TAXON / name).read_bytes()
    assert names[-1].startswith("job_") and names[-1].endswith(".log")


def test_export_by_acquisition_with_all_images_has_the_real_columns(ecotaxa):
    archive = run_export(ecotaxa, login(ecotaxa), M106, split_by="acquisition",
                         with_images="all")
    for reference in sorted(BY_ACQ.glob("*.tsv")):
        produced = archive.read(reference.name)
        assert produced.startswith(b"\xef\xbb\xbf")
        assert produced[3:].split(b"\n")[0] == reference.read_bytes().split(b"\n")[0]
        rows = list(csv.reader(io.StringIO(produced.decode("utf-8-sig")), delimiter="\t"))
        acq = reference.name.removeprefix("ecotaxa_").removesuffix(".tsv")
        assert all(row[0].startswith(acq + "/") for row in rows[1:])
        for row in rows[1:]:
            assert archive.read(row[0]) == (BY_ACQ / row[0]).read_bytes()


def test_export_of_the_sample_data_without_split(ecotaxa):
    token = login(ecotaxa)
    archive = run_export(ecotaxa, token, 1, with_images="all", with_types_row=True)
    tsvs = [n for n in archive.namelist() if n.endswith(".tsv")]
    assert len(tsvs) == 1 and tsvs[0].startswith("ecotaxa_export_1_")
    base = tsvs[0].removeprefix("ecotaxa_").removesuffix(".tsv")
    raw = archive.read(tsvs[0])
    assert raw.startswith(b"\xef\xbb\xbf")
    text = raw.decode("utf-8-sig")
    header, types, first = text.split("\n")[:3]
    assert header.startswith('"img_file_name"\t"img_rank"\t"object_id"\t"object_lat"')
    assert "complement_info" not in header
    assert types.split("\t")[:5] == ['"[t]"', '"[t]"', '"[t]"', '"[f]"', '"[f]"']
    cells = first.split("\t")
    first_id = pd.read_csv(ML / "test_labels.csv")["id"].iloc[0]  # "test" sorts before "training"
    assert cells[:3] == [f'"{base}/{first_id}.jpg"', "0", f'"mltemplate_{first_id}"']
    assert cells[3] == '""' and cells[10] == '"validated"'
    table = pd.read_csv(io.BytesIO(raw), sep="\t", encoding="utf-8-sig", skiprows=[1])
    assert len(table) == 400
    assert set(table["object_annotation_category"]) == {"Cladocera", "Copepoda", "Siphonophorae",
                                                        "detritus"}
    assert (table.loc[table["object_annotation_category"] == "detritus",
                      "object_annotation_hierarchy"] == "not-living>detritus").all()
    assert table["object_area"].dtype.kind == "f"
    for name in table["img_file_name"][:20]:
        assert archive.read(name) == (ML / "images" / name.split("/")[-1]).read_bytes()


def test_export_split_by_sample_without_images_and_with_filters(ecotaxa):
    archive = run_export(ecotaxa, login(ecotaxa), 1, {"taxo": "", "statusfilter": "V"},
                         split_by="sample")
    names = archive.namelist()
    assert sorted(n for n in names if n.endswith(".tsv")) == ["ecotaxa_test.tsv",
                                                              "ecotaxa_training.tsv"]
    assert not any(n.endswith(".jpg") for n in names)
    test = pd.read_csv(io.BytesIO(archive.read("ecotaxa_test.tsv")), sep="\t",
                       encoding="utf-8-sig")
    assert len(test) == 80 and "img_file_name" not in test.columns
    assert "complement_info" in test.columns
    copepods = run_export(ecotaxa, login(ecotaxa), 1, {"fromdate": "2000-01-01"})
    assert [n for n in copepods.namelist() if n.endswith(".tsv")] == []


def test_export_with_internal_ids_has_the_real_header(ecotaxa):
    archive = run_export(ecotaxa, login(ecotaxa), M106, split_by="acquisition",
                         with_internal_ids=True)
    reference = ECOTAXA / "export_general_with_internal_ids" / "ecotaxa_m106_mn01_n1_sml.tsv"
    wanted = reference.read_bytes().split(b"\n")[0]
    produced = archive.read("ecotaxa_generic_m106_mn01_n1_sml.tsv")[3:].split(b"\n")[0]
    assert produced == wanted


def test_only_annotations_export(ecotaxa):
    archive = run_export(ecotaxa, login(ecotaxa), M106, only_annotations=True,
                         split_by="taxon", with_images="all")
    [tsv] = [n for n in archive.namelist() if n.endswith(".tsv")]
    table = pd.read_csv(io.BytesIO(archive.read(tsv)), sep="\t", encoding="utf-8-sig",
                        skiprows=[1])
    assert list(table.columns) == [
        "object_id", "object_annotation_status", "object_annotation_person_name",
        "object_annotation_person_email", "object_annotation_date", "object_annotation_time",
        "object_annotation_category", "object_annotation_category_id"]
    assert len(table) == 12


def test_job_file_ranges_resume_and_faults(small):
    token = login(small)
    small.job_steps = 1
    job_id = export(small, token, M106, with_images="all").json()["job_id"]
    assert poll(small, token, job_id)["state"] == "F"
    url = f"{small.api_url}/jobs/{job_id}/file"
    whole = requests.get(url, headers=auth(token), timeout=TIMEOUT)
    assert whole.headers["Content-Type"] == "application/zip"
    assert whole.headers["Accept-Ranges"] == "bytes"
    assert int(whole.headers["Content-Length"]) == len(whole.content)
    etag = whole.headers["ETag"]
    part = requests.get(url, headers={**auth(token), "Range": "bytes=100-", "If-Range": etag},
                        timeout=TIMEOUT)
    assert part.status_code == 206 and part.content == whole.content[100:]
    size = len(whole.content)
    assert part.headers["Content-Range"] == f"bytes 100-{size - 1}/{size}"
    stale = requests.get(url, headers={**auth(token), "Range": "bytes=100-", "If-Range": '"old"'},
                         timeout=TIMEOUT)
    assert stale.status_code == 200 and stale.content == whole.content
    assert requests.get(url, headers={**auth(token), "Range": "bytes=999999999-"},
                        timeout=TIMEOUT).status_code == 416
    small.inject(f"api/jobs/{job_id}/file", Fault.drop_after(1000))
    with pytest.raises(requests.exceptions.RequestException):
        requests.get(url, headers=auth(token), timeout=TIMEOUT).content  # noqa: B018
    rest = requests.get(url, headers={**auth(token), "Range": "bytes=1000-"}, timeout=TIMEOUT)
    assert whole.content[:1000] + rest.content == whole.content
    small.inject("api/jobs/*/", Fault.status(503, headers={"Retry-After": "1"}))
    assert requests.get(f"{small.api_url}/jobs/{job_id}/", headers=auth(token),
                        timeout=TIMEOUT).status_code == 503
    assert small.hits(f"/api/jobs/{job_id}/file") == 6


def test_add_project_checks_its_input():
    server = EcotaxaServer()
    with pytest.raises(ValueError, match="object_id"):
        server.add_project(3, "x", pd.DataFrame({"a": [1]}))
    with pytest.raises(ValueError, match="not among the images"):
        server.add_project(3, "x", pd.DataFrame({"object_id": ["a"], "img_file_name": ["a.jpg"]}))
    with pytest.raises(ValueError, match="object_date"):
        server.add_project(3, "x", pd.DataFrame({"object_id": ["a"], "object_date": ["May 1"]}))
    with pytest.raises(ValueError, match="annotation_status"):
        server.add_project(3, "x", pd.DataFrame({"object_id": ["a"],
                                                 "object_annotation_status": ["maybe"]}))
    assert server.projects == ()


def test_the_pytest_fixture(awiml_ecotaxa_server):
    server = awiml_ecotaxa_server
    assert server.projects == (1,)
    token = login(server)
    assert requests.get(server.api_url + "/users/me", headers=auth(token),
                        timeout=TIMEOUT).json()["name"] == "alice"
    assert repr(server).startswith("<EcotaxaServer http://127.0.0.1:")
