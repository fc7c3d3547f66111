"""The playground's endpoints: operators and admins only, each POST checked against the session's CSRF token,
bounded in size; a check answers located problems or the DAG, a simulation its timeline and statuses."""

from pathlib import Path

from app.bootstrap import Container
from app.domain.users import Role
from tests.integration.dashboard.conftest import Clients, csrf_of

SOURCE = (Path(__file__).resolve().parents[3] / "workflows" / "user_registration.toml").read_text()
SCENARIO = 'input = { user_id = "7f3c6a4e-8d2b-4c1a-9e5f-0a1b2c3d4e5f", email = "a@example.com", name = "A" }\n'


def test_the_playground_checks_and_simulates_for_operators_and_refuses_others(container: Container,
                                                                             as_role: Clients) -> None:
    operator = as_role(Role.OPERATOR)
    page = operator.get("/dashboard/playground?workflow=user_registration")
    assert page.status_code == 200 and 'id="source"' in page.text and "/dashboard/static/playground.js" in page.text
    token = csrf_of(operator)
    header = {"X-CSRF-Token": token}

    assert operator.post("/dashboard/playground/check", json={"source": SOURCE}).status_code == 403  # no token
    assert operator.post("/dashboard/playground/check", json={"source": SOURCE},
                         headers={"X-CSRF-Token": "0" * 64}).status_code == 403
    assert operator.post("/dashboard/playground/check", json={"source": "x" * 70_000},
                         headers=header).status_code == 413  # api.max_body_bytes

    broken = operator.post("/dashboard/playground/check", headers=header, json={
        "source": SOURCE.replace('after = ["welcome_email"]', 'after = ["nowhere"]'), "name": "user_registration"})
    assert broken.status_code == 200 and broken.json()["dag"] is None
    assert any(problem.startswith("user_registration.toml:") and "nowhere" in problem
               for problem in broken.json()["problems"])
    fine = operator.post("/dashboard/playground/check", headers=header, json={"source": SOURCE})
    assert fine.json()["problems"] == [] and '<svg class="dag"' in fine.json()["dag"]

    ran = operator.post("/dashboard/playground/simulate", headers=header, json={"source": SOURCE,
                                                                               "scenario": SCENARIO}).json()
    assert ran["status"] == "succeeded" and ran["statuses"]["announce_verified"] == "skipped"
    assert ran["timeline"][0]["step"] == "announce" and ran["timeline"][0]["status"] == "succeeded"
    refused = operator.post("/dashboard/playground/simulate", headers=header, json={
        "source": SOURCE, "scenario": SCENARIO + "[steps.welcom_email]\nfail = 1\n"}).json()
    assert refused["status"] is None and "steps.welcom_email" in refused["problems"][0]

    assert as_role(Role.USER).get("/dashboard/playground").status_code == 403
    assert operator.get("/dashboard/playground?workflow=nothing").status_code == 404
