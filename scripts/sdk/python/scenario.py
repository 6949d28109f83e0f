"""A newcomer's first session, driven through the Python client that openapi-python-client
generates from openapi.yaml (scripts/sdk/run generates it, untouched, and runs this).

Environment: MAILROOM_URL, MAILROOM_KEY_ID, MAILROOM_KEY_SECRET (a fresh account's key).
"""

import os
import sys
import time
import uuid

from mailroom_api_client import AuthenticatedClient, Client
from mailroom_api_client.api.auth import issue_token
from mailroom_api_client.api.campaigns import create_campaign, get_campaign, send_campaign
from mailroom_api_client.api.contact_properties import create_contact_property
from mailroom_api_client.api.contacts import create_contact
from mailroom_api_client.api.events import list_events
from mailroom_api_client.api.lists import add_list_member, create_list
from mailroom_api_client.models import (
    AccessToken,
    AddMember,
    NewCampaign,
    CampaignStatus,
    CampaignView,
    ConsentStatus,
    ContactView,
    CreateContact,
    CreateContactProperty,
    CreateList,
    EventType,
    MailingList,
    MemberConsent,
    MemberView,
    PageEventView,
    Problem,
    PropertyDefinition,
    PropertyType,
    TokenRequest,
)
from mailroom_api_client.models.create_contact_properties_type_0 import CreateContactPropertiesType0
from mailroom_api_client.types import UNSET, Unset

DEADLINE_SECONDS = 60


def ok(response, model):
    """The parsed body of a successful answer, of the model the contract promises."""
    assert 200 <= response.status_code < 300, f"{response.status_code}: {response.content!r}"
    assert isinstance(response.parsed, model), f"{type(response.parsed)} is not {model}"
    return response.parsed


def main() -> None:
    base_url = os.environ["MAILROOM_URL"]
    anonymous = Client(base_url=base_url, raise_on_unexpected_status=True)
    token = ok(
        issue_token.sync_detailed(
            client=anonymous,
            body=TokenRequest(
                key_id=uuid.UUID(os.environ["MAILROOM_KEY_ID"]),
                secret=os.environ["MAILROOM_KEY_SECRET"],
            ),
        ),
        AccessToken,
    )
    client = AuthenticatedClient(
        base_url=base_url, token=token.access_token, raise_on_unexpected_status=True
    )

    prop = ok(
        create_contact_property.sync_detailed(
            client=client, body=CreateContactProperty(name="plan", type_=PropertyType.STRING)
        ),
        PropertyDefinition,
    )
    assert prop.name == "plan"

    properties = CreateContactPropertiesType0.from_dict({"plan": "pro"})
    ada = ok(
        create_contact.sync_detailed(
            client=client,
            body=CreateContact(email="ada@example.com", name="Ada", properties=properties),
        ),
        ContactView,
    )
    news = ok(create_list.sync_detailed(client=client, body=CreateList(name="News")), MailingList)

    consent = MemberConsent(
        purpose="marketing_email",
        status=ConsentStatus.GRANTED,
        method="form",
        source="https://shop.example/newsletter",
    )
    for member in [AddMember(contact_id=ada.id, consent=consent),
                   AddMember(email="grace@example.com", name="Grace", consent=consent)]:
        added = ok(add_list_member.sync_detailed(id=news.id, client=client, body=member), MemberView)
        assert added.status.value == "subscribed", added

    campaign = ok(
        create_campaign.sync_detailed(
            client=client,
            body=NewCampaign(
                name="November news",
                list_ids=[news.id],
                subject="News for {{ contact.name }}",
                from_email="news@shop.example",
                html="<p>Hello {{ contact.name }}, on {{ contact.properties.plan }}</p>",
            ),
        ),
        CampaignView,
    )
    ok(send_campaign.sync_detailed(id=campaign.id, client=client, idempotency_key=str(uuid.uuid4())), CampaignView)
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        campaign = ok(get_campaign.sync_detailed(id=campaign.id, client=client), CampaignView)
        if campaign.status == CampaignStatus.SENT:
            break
        assert time.monotonic() < deadline, f"the campaign never became sent: {campaign.status}"
        time.sleep(0.2)
    assert campaign.progress.sent == 2, campaign.progress

    # Page through the events one at a time, following next_cursor to the end.
    while True:
        seen, cursor = [], None
        while True:
            page = ok(
                list_events.sync_detailed(client=client, limit=1, cursor=cursor or UNSET),
                PageEventView,
            )
            seen.extend(page.data)
            cursor = page.next_cursor
            if not cursor:
                break
        sent = [e for e in seen if e.type_ == EventType.SENT and e.campaign_id == campaign.id]
        if len(sent) == 2:
            break
        assert time.monotonic() < deadline, f"only {len(sent)} sent events were recorded"
        time.sleep(0.2)
    assert len({e.id for e in seen}) == len(seen), "a page repeated an event"

    # Invalid input answers a typed problem: its code, and one entry per field.
    invalid = create_contact.sync_detailed(client=client, body=CreateContact(email="not-an-address"))
    assert invalid.status_code == 422, invalid.content
    problem = invalid.parsed
    assert isinstance(problem, Problem), type(problem)
    assert problem.code == "validation_failed", problem
    assert not isinstance(problem.errors, Unset) and problem.errors[0].field == "email", problem
    assert not isinstance(problem.request_id, Unset)

    print(f"python SDK: token, property, contact, list, 2 members with consent, campaign sent, "
          f"{len(seen)} events paged one by one, 422 decoded as Problem({problem.code}, "
          f"errors[0].field={problem.errors[0].field})")


if __name__ == "__main__":
    sys.exit(main())
