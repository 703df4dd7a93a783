"""The HTTP API, endpoint by endpoint, against airyra's documented behaviour.

A real server (uvicorn in a thread, real SQLite) answers real HTTP requests.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from isollm.tasks.server.run import EmbeddedServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    with EmbeddedServer(tmp_path_factory.mktemp("tasks"), reap_interval=0.1) as running:
        yield running


@pytest.fixture
def http(server: EmbeddedServer, request: pytest.FixtureRequest) -> Iterator[httpx.Client]:
    """A client whose paths start at ``/v1/projects/<a project of this test>``."""
    project = "p" + str(abs(hash(request.node.nodeid)))[:12]
    base = f"{server.url}/v1/projects/{project}"
    with httpx.Client(base_url=base, headers={"X-Airyra-Agent": "human"}) as client:
        yield client


def as_agent(agent: str, **headers: str) -> dict[str, str]:
    return {"X-Airyra-Agent": agent, **headers}


def create(http: httpx.Client, title: str = "task", **fields: Any) -> dict[str, Any]:
    response = http.post("/tasks", json={"title": title, **fields})
    assert response.status_code == 201, response.text
    return dict(response.json())


def error_of(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert set(error) == {"code", "message", "context"}
    return dict(error)


class TestSystem:
    def test_health(self, server: EmbeddedServer) -> None:
        assert httpx.get(f"{server.url}/v1/health").json()["status"] == "ok"

    def test_projects_appear_on_first_creation(self, tmp_path: Path) -> None:
        with EmbeddedServer(tmp_path) as fresh, httpx.Client(base_url=fresh.url) as http:
            assert http.get("/v1/projects").json() == []
            gone = error_of(http.get("/v1/projects/demo/tasks"), 404)
            assert gone["code"] == "PROJECT_NOT_FOUND"
            assert http.get("/v1/projects").json() == []
            assert http.post("/v1/projects/demo/tasks", json={"title": "x"}).status_code == 201
            assert http.get("/v1/projects").json() == ["demo"]

    def test_invalid_project_name(self, server: EmbeddedServer) -> None:
        error = error_of(httpx.get(f"{server.url}/v1/projects/no%20spaces/tasks"), 400)
        assert error["code"] == "VALIDATION_FAILED"

    def test_unknown_route_and_method(self, server: EmbeddedServer, http: httpx.Client) -> None:
        assert error_of(httpx.get(f"{server.url}/v2/nothing"), 404)["code"] == "NOT_FOUND"
        assert error_of(http.put("/tasks"), 405)["context"]["allowed"] == ["GET", "POST"]


class TestCreate:
    def test_shape_and_defaults(self, http: httpx.Client) -> None:
        task = create(http, "Write docs")
        assert task["id"].startswith("ar-")
        assert set(task) == {"id", "title", "status", "priority", "created_at", "updated_at"}
        assert (task["status"], task["priority"]) == ("open", 2)
        assert task["created_at"].endswith("Z")
        history = http.get(f"/tasks/{task['id']}/history").json()
        assert history[0]["changed_by"] == "human"

    @pytest.mark.parametrize(
        ("body", "detail"),
        [
            ({}, "title is required"),
            ({"title": ""}, "title cannot be empty"),
            ({"title": 5}, "title must be a string"),
            ({"title": "x", "priority": 9}, "priority must be between 0 and 4"),
            ({"title": "x", "priority": "high"}, "priority must be an integer"),
            ({"title": "x", "priority": True}, "priority must be an integer"),
            ({"title": "x", "priority": 1.5}, "priority must be an integer"),
        ],
    )
    def test_validation(self, http: httpx.Client, body: dict[str, Any], detail: str) -> None:
        error = error_of(http.post("/tasks", json=body), 400)
        assert error["code"] == "VALIDATION_FAILED"
        assert detail in error["context"]["details"]

    @pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b'"text"', b"\xff\xfe"])
    def test_malformed_json(self, http: httpx.Client, raw: bytes) -> None:
        error = error_of(http.post("/tasks", content=raw), 400)
        assert error["code"] == "VALIDATION_FAILED"

    def test_body_size_is_limited(self, http: httpx.Client) -> None:
        body = b'{"title": "' + b"x" * (2 * 1024 * 1024) + b'"}'
        assert error_of(http.post("/tasks", content=body), 413)["code"] == "VALIDATION_FAILED"

    def test_unknown_parent_and_spec(self, http: httpx.Client) -> None:
        missing_parent = http.post("/tasks", json={"title": "x", "parent_id": "ar-none"})
        assert error_of(missing_parent, 404)["code"] == "TASK_NOT_FOUND"
        missing_spec = http.post("/tasks", json={"title": "x", "spec_id": "sp-none"})
        assert error_of(missing_spec, 404)["code"] == "SPEC_NOT_FOUND"


class TestRead:
    def test_get_and_not_found(self, http: httpx.Client) -> None:
        task = create(http)
        assert http.get(f"/tasks/{task['id']}").json() == task
        error = error_of(http.get("/tasks/ar-none"), 404)
        assert error == {
            "code": "TASK_NOT_FOUND",
            "message": "Task ar-none not found",
            "context": {"id": "ar-none"},
        }

    def test_list_pagination_like_airyra(self, http: httpx.Client) -> None:
        ids = [create(http, f"t{i}", priority=4 - i % 5)["id"] for i in range(5)]
        first = http.get("/tasks", params={"per_page": 2}).json()
        assert first["pagination"] == {"page": 1, "per_page": 2, "total": 5, "total_pages": 3}
        assert [t["priority"] for t in first["data"]] == [0, 1]
        last = http.get("/tasks", params={"per_page": 2, "page": 3}).json()
        assert len(last["data"]) == 1
        lenient = http.get("/tasks", params={"page": "x", "per_page": 500}).json()
        assert lenient["pagination"]["per_page"] == 100
        assert lenient["pagination"]["page"] == 1
        assert {t["id"] for t in lenient["data"]} == set(ids)

    def test_status_filter(self, http: httpx.Client) -> None:
        task = create(http)
        create(http)
        http.post(f"/tasks/{task['id']}/claim")
        in_progress = http.get("/tasks", params={"status": "in_progress"}).json()
        assert [t["id"] for t in in_progress["data"]] == [task["id"]]
        unknown = http.get("/tasks", params={"status": "sleeping"}).json()
        assert unknown["pagination"]["total"] == 2

    def test_ready(self, http: httpx.Client) -> None:
        first, second = create(http, "first"), create(http, "second")
        http.post(f"/tasks/{second['id']}/deps", json={"parent_id": first["id"]})
        ready = http.get("/tasks/ready").json()
        assert [t["id"] for t in ready["data"]] == [first["id"]]


class TestEditDelete:
    def test_patch(self, http: httpx.Client) -> None:
        task = create(http, "old")
        patched = http.patch(f"/tasks/{task['id']}", json={"title": "new", "priority": 0})
        assert patched.status_code == 200
        assert (patched.json()["title"], patched.json()["priority"]) == ("new", 0)
        empty = http.patch(f"/tasks/{task['id']}", json={"title": ""})
        assert error_of(empty, 400)["code"] == "VALIDATION_FAILED"
        assert error_of(http.patch("/tasks/ar-none", json={}), 404)["code"] == "TASK_NOT_FOUND"

    def test_delete(self, http: httpx.Client) -> None:
        task = create(http)
        response = http.delete(f"/tasks/{task['id']}")
        assert response.status_code == 204
        assert response.content == b""
        assert http.get(f"/tasks/{task['id']}").status_code == 404
        assert error_of(http.delete(f"/tasks/{task['id']}"), 404)["code"] == "TASK_NOT_FOUND"


class TestTransitions:
    def test_claim(self, http: httpx.Client) -> None:
        task = create(http)
        claimed = http.post(f"/tasks/{task['id']}/claim", headers=as_agent("w1"))
        assert claimed.status_code == 200
        assert claimed.json()["claimed_by"] == "w1"
        assert claimed.headers["x-airyra-fence"] == "1"
        again = error_of(http.post(f"/tasks/{task['id']}/claim", headers=as_agent("w2")), 409)
        assert again["code"] == "ALREADY_CLAIMED"
        assert again["context"]["claimed_by"] == "w1"
        assert again["context"]["claimed_at"] == claimed.json()["claimed_at"]

    def test_claim_refuses_done_and_not_ready(self, http: httpx.Client) -> None:
        first, second = create(http), create(http)
        http.post(f"/tasks/{second['id']}/deps", json={"parent_id": first["id"]})
        waiting = error_of(http.post(f"/tasks/{second['id']}/claim"), 409)
        assert waiting["code"] == "NOT_READY"
        assert waiting["context"]["waiting_for"] == [first["id"]]
        http.post(f"/tasks/{first['id']}/claim")
        http.post(f"/tasks/{first['id']}/done")
        invalid = error_of(http.post(f"/tasks/{first['id']}/claim"), 400)
        assert invalid["context"] == {"from": "done", "to": "in_progress"}

    def test_done_only_by_the_claimant(self, http: httpx.Client) -> None:
        task = create(http)
        assert error_of(http.post(f"/tasks/{task['id']}/done"), 400)["code"] == (
            "INVALID_TRANSITION"
        )
        http.post(f"/tasks/{task['id']}/claim", headers=as_agent("w1"))
        other = error_of(http.post(f"/tasks/{task['id']}/done", headers=as_agent("w2")), 403)
        assert other == {
            "code": "NOT_OWNER",
            "message": "Task is claimed by another agent",
            "context": {"claimed_by": "w1"},
        }
        done = http.post(f"/tasks/{task['id']}/done", headers=as_agent("w1"))
        assert done.json()["status"] == "done"

    def test_a_stale_fence_is_refused(self, http: httpx.Client) -> None:
        task = create(http)
        http.post(f"/tasks/{task['id']}/claim", headers=as_agent("w1"))
        http.post(f"/tasks/{task['id']}/release", headers=as_agent("w1"))
        http.post(f"/tasks/{task['id']}/claim", headers=as_agent("w1"))
        stale = http.post(
            f"/tasks/{task['id']}/done", headers=as_agent("w1", **{"X-Airyra-Fence": "1"})
        )
        assert error_of(stale, 409)["code"] == "STALE_CLAIM"
        fresh = http.post(f"/tasks/{task['id']}/done", json={"fence": 2}, headers=as_agent("w1"))
        assert fresh.status_code == 200

    def test_release_and_force(self, http: httpx.Client) -> None:
        task = create(http)
        http.post(f"/tasks/{task['id']}/claim", headers=as_agent("w1"))
        assert http.post(f"/tasks/{task['id']}/release").status_code == 403
        forced = http.post(f"/tasks/{task['id']}/release", params={"force": "true"})
        assert forced.json()["status"] == "open"
        assert "claimed_by" not in forced.json()

    def test_block_and_unblock(self, http: httpx.Client) -> None:
        task = create(http)
        blocked = http.post(f"/tasks/{task['id']}/block", json={"reason": "no key"})
        assert blocked.json()["status"] == "blocked"
        assert http.post(f"/tasks/{task['id']}/block").status_code == 200
        assert http.post(f"/tasks/{task['id']}/unblock").json()["status"] == "open"
        assert error_of(http.post(f"/tasks/{task['id']}/unblock"), 400)["context"] == {
            "from": "open",
            "to": "open",
        }


class TestDependencies:
    def test_add_list_remove(self, http: httpx.Client) -> None:
        a, b = create(http, "a")["id"], create(http, "b")["id"]
        assert http.get(f"/tasks/{b}/deps").json() == []
        added = http.post(f"/tasks/{b}/deps", json={"parent_id": a})
        assert (added.status_code, added.json()) == (201, {"child_id": b, "parent_id": a})
        assert http.get(f"/tasks/{b}/deps").json() == [{"child_id": b, "parent_id": a}]
        assert http.delete(f"/tasks/{b}/deps/{a}").status_code == 204
        gone = error_of(http.delete(f"/tasks/{b}/deps/{a}"), 404)
        assert gone["code"] == "DEPENDENCY_NOT_FOUND"
        assert gone["context"] == {"child_id": b, "parent_id": a}

    def test_cycle_and_bad_requests(self, http: httpx.Client) -> None:
        a, b = create(http, "a")["id"], create(http, "b")["id"]
        http.post(f"/tasks/{b}/deps", json={"parent_id": a})
        cycle = error_of(http.post(f"/tasks/{a}/deps", json={"parent_id": b}), 400)
        assert (cycle["code"], cycle["context"]["path"]) == ("CYCLE_DETECTED", [a, b, a])
        assert error_of(http.post(f"/tasks/{a}/deps", json={}), 400)["context"]["details"] == [
            "parent_id is required"
        ]
        unknown = http.post(f"/tasks/{a}/deps", json={"parent_id": "ar-none"})
        assert error_of(unknown, 404)["code"] == "TASK_NOT_FOUND"


class TestAudit:
    def test_history_and_log(self, http: httpx.Client) -> None:
        task = create(http)
        http.post(f"/tasks/{task['id']}/claim", headers=as_agent("w1"))
        history = http.get(f"/tasks/{task['id']}/history").json()
        assert [h["action"] for h in history] == ["claim", "create"]
        assert history[0] | {"id": 0, "changed_at": ""} == {
            "id": 0,
            "task_id": task["id"],
            "action": "claim",
            "field": "status",
            "old_value": "open",
            "new_value": "in_progress",
            "changed_at": "",
            "changed_by": "w1",
        }
        log = http.get("/audit", params={"agent": "w1"}).json()
        assert [e["action"] for e in log["data"]] == ["claim"]
        assert log["pagination"]["total"] == 1
        assert error_of(http.get("/tasks/ar-none/history"), 404)["code"] == "TASK_NOT_FOUND"


class TestSpecs:
    def test_lifecycle(self, http: httpx.Client) -> None:
        spec = http.post("/specs", json={"title": "Epic"})
        assert spec.status_code == 201
        sid = spec.json()["id"]
        assert spec.json()["status"] == "draft"
        create(http, "part", spec_id=sid)
        assert http.get(f"/specs/{sid}").json()["status"] == "active"
        assert http.get(f"/specs/{sid}/tasks").json()["pagination"]["total"] == 1
        assert http.patch(f"/specs/{sid}", json={"title": "Renamed"}).json()["title"] == ("Renamed")
        assert http.post(f"/specs/{sid}/cancel").json()["status"] == "cancelled"
        assert error_of(http.post(f"/specs/{sid}/cancel"), 409)["code"] == (
            "SPEC_ALREADY_CANCELLED"
        )
        assert http.post(f"/specs/{sid}/reopen").json()["status"] == "active"
        assert error_of(http.post(f"/specs/{sid}/reopen"), 400)["code"] == ("SPEC_NOT_CANCELLED")
        assert http.delete(f"/specs/{sid}").status_code == 204
        assert error_of(http.get(f"/specs/{sid}"), 404)["code"] == "SPEC_NOT_FOUND"

    def test_dependencies_and_ready(self, http: httpx.Client) -> None:
        first = http.post("/specs", json={"title": "first"}).json()["id"]
        second = http.post("/specs", json={"title": "second"}).json()["id"]
        added = http.post(f"/specs/{second}/deps", json={"parent_id": first})
        assert added.status_code == 204
        assert http.get(f"/specs/{second}/deps").json() == [
            {"child_id": second, "parent_id": first}
        ]
        assert [s["id"] for s in http.get("/specs/ready").json()["data"]] == [first]
        assert http.get("/specs", params={"status": "draft"}).json()["pagination"]["total"] == 2
        cycle = http.post(f"/specs/{first}/deps", json={"parent_id": second})
        assert error_of(cycle, 400)["code"] == "CYCLE_DETECTED"
        assert http.delete(f"/specs/{second}/deps/{first}").status_code == 204
        again = error_of(http.delete(f"/specs/{second}/deps/{first}"), 404)
        assert again["code"] == "SPEC_DEPENDENCY_NOT_FOUND"


class TestExtensions:
    def test_claim_next_and_heartbeat(self, http: httpx.Client) -> None:
        assert http.post("/tasks/claim-next").status_code == 204
        low, high = create(http, "low", priority=3), create(http, "high", priority=1)
        claim = http.post("/tasks/claim-next", json={"lease_seconds": 30}, headers=as_agent("w"))
        assert claim.status_code == 200
        body = claim.json()
        assert body["task"]["id"] == high["id"]
        assert body["fence"] == 1
        renewed = http.post(
            f"/tasks/{high['id']}/heartbeat",
            json={"fence": 1, "lease_seconds": 60},
            headers=as_agent("w"),
        )
        assert renewed.json()["lease_expires_at"] > body["lease_expires_at"]
        stolen = http.post(f"/tasks/{high['id']}/heartbeat", headers=as_agent("x"))
        assert error_of(stolen, 403)["code"] == "NOT_OWNER"
        bad = http.post("/tasks/claim-next", json={"lease_seconds": 0})
        assert error_of(bad, 400)["code"] == "VALIDATION_FAILED"
        assert low["id"] in {t["id"] for t in http.get("/tasks/ready").json()["data"]}

    def test_expired_leases_return_to_the_queue(self, http: httpx.Client) -> None:
        task = create(http)
        http.post("/tasks/claim-next", json={"lease_seconds": 1}, headers=as_agent("w"))
        time.sleep(1.5)
        again = http.post("/tasks/claim-next", headers=as_agent("v")).json()
        assert again["task"]["id"] == task["id"]
        assert again["fence"] == 2
        actions = [
            (h["action"], h["changed_by"]) for h in http.get(f"/tasks/{task['id']}/history").json()
        ]
        assert ("expire", "isollm-reaper") in actions

    def test_import_all_or_nothing(self, http: httpx.Client) -> None:
        good = http.post(
            "/tasks/import",
            json={"tasks": [{"key": "a", "title": "A"}, {"title": "B", "after": ["a"]}]},
        )
        assert good.status_code == 201
        a, b = (t["id"] for t in good.json()["data"])
        assert good.json()["keys"] == {"a": a}
        assert http.get(f"/tasks/{b}/deps").json() == [{"child_id": b, "parent_id": a}]
        bad = http.post(
            "/tasks/import",
            json={"tasks": [{"title": "C"}, {"title": "D", "after": ["nowhere"]}]},
        )
        assert error_of(bad, 400)["code"] == "VALIDATION_FAILED"
        wrong = http.post("/tasks/import", json={"tasks": [{"title": 3}]})
        assert error_of(wrong, 400)["context"]["details"] == ["task 1: title must be a string"]
        assert http.get("/tasks").json()["pagination"]["total"] == 2

    def test_clear_done(self, http: httpx.Client) -> None:
        task = create(http)
        keep = create(http)
        http.post(f"/tasks/{task['id']}/claim")
        http.post(f"/tasks/{task['id']}/done")
        cleared = http.post("/tasks/clear-done")
        assert cleared.json() == {"deleted": [task["id"]]}
        assert [t["id"] for t in http.get("/tasks").json()["data"]] == [keep["id"]]


class TestTokens:
    @pytest.fixture
    def secured(self, tmp_path: Path) -> Iterator[EmbeddedServer]:
        with EmbeddedServer(tmp_path, auth=True) as running:
            yield running

    def test_tokens_are_required_and_bind_the_agent(self, secured: EmbeddedServer) -> None:
        url = secured.url
        project = "/v1/projects/demo"
        assert httpx.get(f"{url}/v1/health").status_code == 200
        assert error_of(httpx.get(f"{url}{project}/tasks"), 401)["code"] == "UNAUTHORIZED"
        forged = {"Authorization": "Bearer ist1.dzE.forged"}
        assert httpx.get(f"{url}{project}/tasks", headers=forged).status_code == 401
        w1 = {"Authorization": f"Bearer {secured.token('w1', 'demo')}"}
        refused = httpx.post(f"{url}{project}/tasks", json={"title": "x"}, headers=w1)
        assert error_of(refused, 403)["context"]["required"] == "host"
        host = {"Authorization": f"Bearer {secured.token()}"}
        created = httpx.post(f"{url}{project}/tasks", json={"title": "x"}, headers=host)
        assert created.status_code == 201
        claimed = httpx.post(f"{url}{project}/tasks/claim-next", headers=w1).json()
        assert claimed["task"]["claimed_by"] == "w1"
        posing = httpx.get(f"{url}{project}/tasks", headers={**w1, "X-Airyra-Agent": "w2"})
        assert error_of(posing, 403)["code"] == "FORBIDDEN"
        admin = {"Authorization": f"Bearer {secured.token()}", "X-Airyra-Agent": "w1"}
        tid = claimed["task"]["id"]
        assert httpx.post(f"{url}{project}/tasks/{tid}/done", headers=admin).status_code == 200
