"""A client generated from Ravand's OpenAPI document by openapi-python-client
(run by .ci/api-tools.sh) starts a case, pages the task list to find its
task, completes it, then, as the SMS gateway (a second token, which works
only the `system` role's jobs), fetches the job that texts the tracking
code and reports it sent, and sees the case move on. Exits non-zero on any
difference.

    python client_flow.py BASE_URL TOKEN GATEWAY_TOKEN
"""

import sys

from ravand_client import AuthenticatedClient
from ravand_client.api.default import acquire_jobs, complete, complete_job, list_tasks, start, status
from ravand_client.models import (
    AcquireBody,
    CompleteBody,
    CompleteBodyOutputs,
    CompleteJobBody,
    Job,
    StartBody,
    StartBodyData,
    Started,
    TaskPage,
)


def main(base: str, token: str, gateway_token: str) -> None:
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
    assert steps == ["send-tracking-code"], steps

    # The SMS gateway's turn: fetch the job of topic `sms`, report it sent.
    gateway = AuthenticatedClient(base_url=base, token=gateway_token)
    jobs = acquire_jobs.sync(client=gateway, body=AcquireBody(topic="sms", worker="sms-gateway"))
    assert isinstance(jobs, list) and len(jobs) == 1, jobs
    job = jobs[0]
    assert isinstance(job, Job) and job.case == case and job.step == "send-tracking-code", job
    r = complete_job.sync_detailed(id=case, task=job.task, client=gateway, body=CompleteJobBody(worker="sms-gateway"))
    assert r.status_code == 204, (r.status_code, r.content)

    view = status.sync(id=case, client=client)
    steps = [t.step for t in view.tasks]
    assert steps == ["classify"], steps
    print(f"ok: case {case} started, found on page {pages} of the task list, completed, texted, now at {steps}")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
