// A newcomer's first session, driven through the TypeScript client that
// @hey-api/openapi-ts generates from openapi.yaml (scripts/sdk/run generates it, untouched,
// into ./client beside a copy of this file, compiles both with tsc and runs the result).
//
// Environment: MAILROOM_URL, MAILROOM_KEY_ID, MAILROOM_KEY_SECRET (a fresh account's key).

import { createClient } from './client/client';
import {
  addListMember,
  createCampaign,
  createContact,
  createContactProperty,
  createList,
  getCampaign,
  issueToken,
  listEvents,
  sendCampaign,
} from './client/sdk.gen';
import type { EventView, MemberConsent, PageEventView, Problem } from './client/types.gen';

// Node's own globals, the few used here (no @types/node needed).
declare const process: { env: Record<string, string | undefined>; exit(code: number): never };

const DEADLINE_MS = 60_000;

function fail(message: string): never {
  throw new Error(message);
}

/** The data of a successful answer; anything else stops the scenario with its body. */
function ok<T>(result: { data?: T; error?: unknown; response?: Response }): T {
  if (result.data === undefined || !result.response?.ok) {
    fail(`${result.response?.status}: ${JSON.stringify(result.error)}`);
  }
  return result.data;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function main(): Promise<void> {
  const baseUrl = process.env.MAILROOM_URL ?? fail('MAILROOM_URL is not set');
  const anonymous = createClient({ baseUrl });
  const token = ok(
    await issueToken({
      client: anonymous,
      body: {
        key_id: process.env.MAILROOM_KEY_ID ?? fail('MAILROOM_KEY_ID is not set'),
        secret: process.env.MAILROOM_KEY_SECRET ?? fail('MAILROOM_KEY_SECRET is not set'),
      },
    }),
  );
  const client = createClient({ baseUrl, auth: token.access_token });

  const property = ok(await createContactProperty({ client, body: { name: 'plan', type: 'string' } }));
  if (property.name !== 'plan') fail(`property ${JSON.stringify(property)}`);
  const ada = ok(
    await createContact({ client, body: { email: 'ada@example.com', name: 'Ada', properties: { plan: 'pro' } } }),
  );
  const news = ok(await createList({ client, body: { name: 'News' } }));

  const consent: MemberConsent = {
    purpose: 'marketing_email',
    status: 'granted',
    method: 'form',
    source: 'https://shop.example/newsletter',
  };
  for (const body of [
    { contact_id: ada.id, consent },
    { email: 'grace@example.com', name: 'Grace', consent },
  ]) {
    const member = ok(await addListMember({ client, path: { id: news.id }, body }));
    if (member.status !== 'subscribed') fail(`member ${JSON.stringify(member)}`);
  }

  let campaign = ok(
    await createCampaign({
      client,
      body: {
        name: 'November news',
        list_ids: [news.id],
        subject: 'News for {{ contact.name }}',
        from_email: 'news@shop.example',
        html: '<p>Hello {{ contact.name }}, on {{ contact.properties.plan }}</p>',
      },
    }),
  );
  ok(await sendCampaign({ client, path: { id: campaign.id }, headers: { 'Idempotency-Key': crypto.randomUUID() } }));
  const deadline = Date.now() + DEADLINE_MS;
  while (campaign.status !== 'sent') {
    if (Date.now() > deadline) fail(`the campaign never became sent: ${campaign.status}`);
    await sleep(200);
    campaign = ok(await getCampaign({ client, path: { id: campaign.id } }));
  }
  if (campaign.progress.sent !== 2) fail(`progress ${JSON.stringify(campaign.progress)}`);

  // Page through the events one at a time, following next_cursor to the end.
  let seen: EventView[] = [];
  for (;;) {
    seen = [];
    let cursor: string | null | undefined = undefined;
    do {
      const page: PageEventView = ok(await listEvents({ client, query: { limit: 1, cursor: cursor ?? undefined } }));
      seen.push(...page.data);
      cursor = page.next_cursor;
    } while (cursor);
    const sent = seen.filter((e) => e.type === 'sent' && e.campaign_id === campaign.id);
    if (sent.length === 2) break;
    if (Date.now() > deadline) fail(`only ${sent.length} sent events were recorded`);
    await sleep(200);
  }
  if (new Set(seen.map((e) => e.id)).size !== seen.length) fail('a page repeated an event');

  // Invalid input answers a typed problem: its code, and one entry per field.
  const invalid = await createContact({ client, body: { email: 'not-an-address' } });
  if (invalid.response?.status !== 422) fail(`expected 422, got ${invalid.response?.status}`);
  const problem: Problem = invalid.error ?? fail('no problem document');
  if (problem.code !== 'validation_failed') fail(`problem ${JSON.stringify(problem)}`);
  if (problem.errors?.[0]?.field !== 'email') fail(`problem ${JSON.stringify(problem)}`);
  if (!problem.request_id) fail('the problem names no request');

  console.log(
    `typescript SDK: token, property, contact, list, 2 members with consent, campaign sent, ` +
      `${seen.length} events paged one by one, 422 decoded as Problem(${problem.code}, ` +
      `errors[0].field=${problem.errors[0].field})`,
  );
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
