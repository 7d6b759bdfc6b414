// A portal's flow written against the client generated from attachd's OpenAPI document
// (openapi-typescript + openapi-fetch), compiled with `tsc --strict` and no casts, then run
// against a live service (scripts/test.sh):
//   search polyclinics -> POST /v1/eligibility -> submit with an Idempotency-Key -> retry with
//   the same key -> poll GET /v1/events -> read GET /v1/persons/{iin}/attachment.
// The admin token first makes a settlement and a polyclinic to apply to, so nothing depends on
// seed data or on today's date (grounds `relocation` are accepted all year). A step whose route
// the service does not have yet (404 ROUTE_NOT_FOUND) is skipped with a message, not failed.
import createClient from "openapi-fetch";
import type { components, paths } from "./attachd.js";

type Problem = components["schemas"]["Problem"];
type ApplicationInput = components["schemas"]["ApplicationInput"];

function env(name: string): string {
  const value = process.env[name];
  if (!value) {
    console.error(`TypeScript portal flow: ${name} is not set`);
    process.exit(2);
  }
  return value;
}

const baseUrl = env("ATTACHD_URL");
const admin = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${env("ATTACHD_ADMIN_TOKEN")}` } });
const portal = createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${env("ATTACHD_PORTAL_TOKEN")}` } });

let skipped = 0;

function fail(step: string, status: number, error: Problem | undefined): never {
  throw new Error(`${step}: HTTP ${status}: ${error ? `${error.code} ${error.detail ?? ""}` : "no body"}`);
}

// True (after saying so) when the service has no such route yet: the step is skipped.
function notLanded(step: string, status: number, error: Problem | undefined): boolean {
  if (status === 404 && error?.code === "ROUTE_NOT_FOUND") {
    console.log(`SKIP ${step}: the route has not landed in this build of attachd`);
    skipped++;
    return true;
  }
  return false;
}

// The check digit of an IIN or BIN (SPEC §4), or null when the prefix is never issued.
function checkDigit(first11: string): number | null {
  const digits = Array.from(first11, (c) => Number(c));
  const weighted = (weights: number[]) => digits.reduce((sum, d, i) => sum + d * (weights[i] ?? 0), 0) % 11;
  let k = weighted([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  if (k === 10) k = weighted([3, 4, 5, 6, 7, 8, 9, 10, 11, 1, 2]);
  return k === 10 ? null : k;
}

function withCheckDigit(make: () => string): string {
  for (;;) {
    const prefix = make();
    const k = checkDigit(prefix);
    if (k !== null) return prefix + String(k);
  }
}

const random = (n: number) => Math.floor(Math.random() * n);
const pad = (n: number, width: number) => String(n).padStart(width, "0");

async function makePolyclinic(): Promise<{ kato: string; id: number }> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const kato = pad(100000000 + random(900000000), 9);
    const created = await admin.POST("/v1/settlements", {
      body: { kato, name_kk: `TS ауыл ${kato}`, name_ru: `TS посёлок ${kato}` },
    });
    if (created.response.status === 409) continue;
    if (!created.data) fail("create a settlement", created.response.status, created.error);
    const bin = withCheckDigit(() => pad(random(100), 2) + pad(1 + random(12), 2) + "4" + pad(random(1000000), 6));
    const polyclinic = await admin.POST("/v1/polyclinics", {
      body: {
        bin,
        name_kk: `TS емхана ${kato}`,
        name_ru: `TS поликлиника ${kato}`,
        settlement: created.data.kato,
        address: "көш. Абай, 1",
        lat: 43.238949,
        lon: 76.889709,
        ownership: "private",
        auto_approve: true,
      },
    });
    if (!polyclinic.data) fail("create a polyclinic", polyclinic.response.status, polyclinic.error);
    const district = await admin.POST("/v1/polyclinics/{id}/districts", {
      params: { path: { id: String(polyclinic.data.id) } },
      body: { number: "1", kind: "gp" },
    });
    if (!district.data) fail("create a district", district.response.status, district.error);
    return { kato, id: polyclinic.data.id };
  }
  throw new Error("no free KATO code");
}

async function main(): Promise<void> {
  const { kato } = await makePolyclinic();

  // 1. Search the polyclinics of the person's settlement that take part and have room.
  const search = await portal.GET("/v1/polyclinics", {
    params: { query: { settlement: kato, accepting: true, has_room_for_age: 30 } },
  });
  if (!search.data) fail("search polyclinics", search.response.status, search.error);
  const clinic = search.data.items[0];
  if (!clinic) throw new Error("search polyclinics: none found");
  const gpFree: number = clinic.free_by_kind.gp;
  console.log(`ok   search: polyclinic ${clinic.id} (${clinic.name_ru}), ${gpFree} free gp places`);

  const birth = new Date(Date.UTC(1990, random(12), 1 + random(28)));
  const yymmdd = pad(birth.getUTCFullYear() % 100, 2) + pad(birth.getUTCMonth() + 1, 2) + pad(birth.getUTCDate(), 2);
  const iin = withCheckDigit(() => yymmdd + "3" + pad(random(10000), 4));
  const application: ApplicationInput = {
    person: {
      iin,
      last_name: "Сәрсенбаев",
      first_name: "Ерлан",
      middle_name: null,
      birth_date: birth.toISOString().slice(0, 10),
      sex: "male",
      residency: "citizen",
    },
    settlement: kato,
    address: "көш. Төле би, 12",
    polyclinic_id: clinic.id,
    channel: "egov",
    grounds: "relocation",
  };

  // 2. Ask whether it would be accepted, before applying.
  const dry = await portal.POST("/v1/eligibility", { body: application });
  if (dry.data) {
    const outcome: "approved" | "pending" | "refused" = dry.data.outcome;
    console.log(`ok   eligibility: ${outcome}${dry.data.refusal ? ` (${dry.data.refusal.code})` : ""}`);
  } else if (!notLanded("POST /v1/eligibility", dry.response.status, dry.error)) {
    fail("eligibility", dry.response.status, dry.error);
  }

  // 3. Submit with an Idempotency-Key, then 4. retry with the same key: the same application.
  const key = `ts-flow-${iin}-${Date.now()}`;
  const submitted = await portal.POST("/v1/applications", {
    params: { header: { "Idempotency-Key": key } },
    body: application,
  });
  if (!submitted.data) fail("submit", submitted.response.status, submitted.error);
  const first = submitted.data;
  console.log(`ok   submit: application ${first.id} is ${first.status}`);
  const retried = await portal.POST("/v1/applications", {
    params: { header: { "Idempotency-Key": key } },
    body: application,
  });
  if (!retried.data) fail("retry", retried.response.status, retried.error);
  if (retried.data.id !== first.id) throw new Error(`retry: application ${retried.data.id}, not ${first.id}`);
  const replayed = retried.response.headers.get("Idempotent-Replayed");
  if (replayed !== "true") throw new Error(`retry: Idempotent-Replayed is ${replayed ?? "absent"}, not true`);
  console.log(`ok   retry: the same application ${retried.data.id}, Idempotent-Replayed: true`);

  // 5. Poll the events until this application's submission shows up.
  let after: string | undefined;
  let seen = false;
  for (let round = 0; round < 20 && !seen; round++) {
    const events = await portal.GET("/v1/events", {
      params: { query: after === undefined ? { limit: 500, wait: 1 } : { after, limit: 500, wait: 1 } },
    });
    if (!events.data) {
      if (notLanded("GET /v1/events", events.response.status, events.error)) break;
      fail("events", events.response.status, events.error);
    }
    seen = events.data.items.some((e) => e.type === "application.submitted" && e.application_id === first.id);
    after = events.data.next_cursor ?? after;
  }
  if (seen) console.log(`ok   events: application.submitted of ${first.id} seen`);
  else if (after !== undefined) throw new Error(`events: no application.submitted for ${first.id}`);

  // 6. Read where the person is attached (approved at once: the upcoming attachment).
  const attachment = await portal.GET("/v1/persons/{iin}/attachment", { params: { path: { iin } } });
  if (!attachment.data) fail("attachment", attachment.response.status, attachment.error);
  const upcoming = attachment.data.upcoming;
  const current = attachment.data.attachment;
  if (first.status === "approved" && !upcoming && !current) throw new Error("attachment: none after an approval");
  console.log(`ok   attachment: current ${current ? current.polyclinic_id : "none"}, upcoming ${upcoming ? `${upcoming.polyclinic_id} from ${upcoming.valid_from}` : "none"}`);

  console.log(`TypeScript portal flow passed${skipped ? ` (${skipped} step(s) skipped: routes not landed)` : ""}`);
}

main().catch((err: unknown) => {
  console.error(`TypeScript portal flow FAILED: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
