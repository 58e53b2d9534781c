"""A client generated from Ravand's OpenAPI document by openapi-python-client
(run by .ci/api-tools.sh) starts a case, pages the task list to find its
task, completes it, and sees the case move on. Exits non-zero on any
difference.

    python client_flow.py BASE_URL TOKEN
"""

import sys

from ravand_client import AuthenticatedClient
from ravand_client.api.default import complete, list_tasks, start, status
from ravand_client.models import CompleteBody, CompleteBodyOutputs, StartBody, StartBodyData, Started, TaskPage


def main(base: str, token: str) -> None:
    client = AuthenticatedClient(base_url=base, token=token)
    r = start.sync_detailed(
        client=client,
        body=StartBody(process="complaint-137", data=StartBodyData.from_dict({"category": "roads"})),
    )
    assert r.status_code == 201, (r.status_code, r.content)
    started = r.parsed
    assert isinstance(started, Started), started
    case = started.case

    # Page the list two at a time until the new case's task shows.
    found, after, pages = None, None, 0
    while found is None:
        kwargs = {"process": "complaint-137", "limit": 2}
        if after is not None:
            kwargs["after"] = after
        page = list_tasks.sync(client=client, **kwargs)
        assert isinstance(page, TaskPage), page
        pages += 1
        found = next((i for i in page.items if i.case == case), None)
        if found is None:
            assert isinstance(page.next_, str), "the list ended without the new case's task"
            after = page.next_
    assert found.task.step == "register-request", found.task.step

    r = complete.sync_detailed(
        id=case,
        task=found.task.task,
        client=client,
        body=CompleteBody(outputs=CompleteBodyOutputs.from_dict({"category": "roads", "partner": False})),
    )
    assert r.status_code == 204, (r.status_code, r.content)
    view = status.sync(id=case, client=client)
    steps = [t.step for t in view.tasks]
    assert steps == ["classify"], steps
    print(f"ok: case {case} started, found on page {pages} of the task list, completed, now at {steps}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
