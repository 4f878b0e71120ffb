import { LICENSE_FIELDS, licenseChanges, maskIdNo, type License, type LicenseChanges, type LicenseState } from '@lr/domain';
import { sql } from 'kysely';
import { closeEndedFollowUps } from './follow-up.repository';
import { cancelUnsentDeliveries } from './delivery.repository';
import type { Database } from './db';
import type { EncodedSeals, IdSealer } from './id-seal';
import { maskedPhone } from './masking';

export interface UpsertCounts {
  created: number;
  updated: number;
  renewed: number;
  unchanged: number;
}


/** Licences ready to write: id numbers sealed, rows encoded. Made apart from the write so that it can overlap another. */
export interface SealedLicenses {
  categoryCodes: string[];
  licenseNos: string[];
  /** a JSON array of the rows, UTF-8 */
  rows: Buffer;
}

/** Seals the id numbers (here, or on a sealing thread) and encodes the rows for upsertSealedLicenses. */
export async function sealLicenses(
  sealer: { sealMany(idNos: string[]): EncodedSeals | Promise<EncodedSeals> },
  licenses: License[],
): Promise<SealedLicenses> {
  return encodeLicenses(licenses, await sealer.sealMany(licenses.map((l) => l.holderIdNo)));
}

/** The rows of the upsert, with the seals of their id numbers (in the same order). */
function encodeLicenses(licenses: License[], seals: EncodedSeals): SealedLicenses {
  const rows = jsonArray(
    licenses.map((l, i) => ({
      category_code: l.categoryCode,
      license_no: l.licenseNo,
      holder_name: l.holderName,
      holder_type: l.holderType,
      holder_id_sealed: seals.sealed[i],
      holder_id_hash: seals.hashes[i],
      holder_id_masked: maskIdNo(l.holderIdNo),
      phone: l.phone,
      platform_user_id: l.platformUserId,
      region_code: l.regionCode,
      valid_from: l.validFrom,
      expires_on: l.expiresOn,
      status: l.status,
    })),
  );
  return { categoryCodes: licenses.map((l) => l.categoryCode), licenseNos: licenses.map((l) => l.licenseNo), rows };
}

/**
 * JSON.stringify(items) as UTF-8 bytes, written item by item. The pg driver turns a
 * string parameter into bytes itself, and for one string of a whole chunk (a megabyte,
 * assembled from many pieces) that took three times as long as encoding the rows here:
 * a tenth of the import's time on its request thread.
 */
function jsonArray(items: object[]): Buffer {
  let bytes = Buffer.allocUnsafe(items.length * 512 + 2);
  let at = 0;
  bytes[at++] = 0x5b; // [
  items.forEach((item, i) => {
    const json = JSON.stringify(item);
    // A UTF-16 unit takes at most 3 bytes in UTF-8; a comma and the closing bracket follow.
    if (at + json.length * 3 + 2 > bytes.length) {
      const larger = Buffer.allocUnsafe(2 * bytes.length + json.length * 3);
      bytes.copy(larger, 0, 0, at);
      bytes = larger;
    }
    if (i > 0) bytes[at++] = 0x2c; // ,
    at += bytes.write(json, at, 'utf8');
  });
  bytes[at++] = 0x5d; // ]
  return bytes.subarray(0, at);
}

/**
 * Upserts licences on (categoryCode, licenseNo), then applies what the changes mean
 * (licenseChanges, applyLicenseChanges). Run it inside a transaction so that nothing is
 * half written.
 */
export async function upsertLicenses(trx: Database, sealer: IdSealer, licenses: License[]): Promise<UpsertCounts> {
  return upsertSealedLicenses(trx, await sealLicenses(sealer, licenses));
}

/**
 * The write of licences: the rows are locked, written, and what changed is applied, all in
 * the caller's transaction. The consequences are applied here rather than by the caller
 * because they must commit with the write, under the row locks lockLicenses takes, and every
 * writer of licences (the API's licence service, the demo, the tests' fixtures, the benches)
 * must get the same ones.
 */
export async function upsertSealedLicenses(trx: Database, licenses: SealedLicenses): Promise<UpsertCounts> {
  const { categoryCodes, licenseNos, rows } = licenses;
  if (categoryCodes.length === 0) return { created: 0, updated: 0, renewed: 0, unchanged: 0 };
  const before = await lockLicenses(trx, categoryCodes, licenseNos);
  const written = await writeLicenses(trx, rows);
  const changes = licenseChanges(before, written);
  await applyLicenseChanges(trx, changes);
  return {
    created: changes.created.length,
    renewed: changes.renewed.length,
    updated: written.length - changes.created.length - changes.renewed.length,
    unchanged: categoryCodes.length - written.length,
  };
}

/**
 * The rows as they are before the write, locked until the transaction ends so that no one
 * changes them in between. (Read apart from the upsert: joining the upsert's result to them
 * inside one statement makes PostgreSQL compare every pair.)
 */
async function lockLicenses(trx: Database, categoryCodes: string[], licenseNos: string[]): Promise<Map<number, LicenseState>> {
  const { rows } = await sql<LicenseState>`
    select l.id, l.expires_on, l.status
      from licenses l
      join unnest(${categoryCodes}::text[], ${licenseNos}::text[])
           as k(category_code, license_no) using (category_code, license_no)
     -- In id order, as the follow-up openers lock licences, so that the two cannot wait for each other.
     order by l.id
       for update of l`.execute(trx);
  return new Map(rows.map((row) => [row.id, row]));
}

/** Upserts the rows; returns only those it created or changed. */
async function writeLicenses(trx: Database, rows: Buffer): Promise<LicenseState[]> {
  const { rows: written } = await sql<LicenseState>`
    insert into licenses as l (category_code, license_no, holder_name, holder_type, holder_id_sealed,
                               holder_id_hash, holder_id_masked, phone, platform_user_id, region_code,
                               valid_from, expires_on, status)
    select category_code, license_no, holder_name, holder_type, decode(holder_id_sealed, 'base64'),
           decode(holder_id_hash, 'base64'), holder_id_masked, phone, platform_user_id, region_code,
           valid_from, expires_on, status
      -- A Buffer parameter travels in binary; json's binary form is its UTF-8 text.
      from json_to_recordset(${rows}::json) as x(
           category_code text, license_no text, holder_name text, holder_type text, holder_id_sealed text,
           holder_id_hash text, holder_id_masked text, phone text, platform_user_id text, region_code text,
           valid_from date, expires_on date, status text)
    on conflict (category_code, license_no) do update
       set holder_name = excluded.holder_name, holder_type = excluded.holder_type,
           holder_id_sealed = excluded.holder_id_sealed, holder_id_hash = excluded.holder_id_hash,
           holder_id_masked = excluded.holder_id_masked, phone = excluded.phone,
           platform_user_id = excluded.platform_user_id, region_code = excluded.region_code,
           valid_from = excluded.valid_from, expires_on = excluded.expires_on, status = excluded.status,
           updated_at = now()
     -- The sealed id differs on every write; its hash tells whether the number changed.
     where (l.holder_name, l.holder_type, l.holder_id_hash, l.phone, l.platform_user_id, l.region_code,
            l.valid_from, l.expires_on, l.status)
           is distinct from
           (excluded.holder_name, excluded.holder_type, excluded.holder_id_hash, excluded.phone,
            excluded.platform_user_id, excluded.region_code, excluded.valid_from, excluded.expires_on, excluded.status)
    returning l.id, l.expires_on, l.status`.execute(trx);
  return written;
}

/**
 * What the changes mean (docs/rules.md): a renewal is recorded and the open cycles of the
 * old date end `renewed`; a new date cancels the unsent deliveries of the old one, and a
 * revocation all of them; the follow-ups of renewed and revoked licences close.
 */
async function applyLicenseChanges(trx: Database, { renewed, redated, revoked }: LicenseChanges): Promise<void> {
  if (renewed.length > 0) {
    await trx
      .insertInto('renewals')
      .values(renewed.map((c) => ({ licenseId: c.id, oldExpiresOn: c.oldExpiresOn, newExpiresOn: c.newExpiresOn })))
      .execute();
    await closeRenewedCycles(trx, renewed.map((c) => c.id));
  }
  if (redated.length > 0) await cancelUnsentDeliveries(trx, { licenseIds: redated, onlyStaleDates: true }, 'expiry date changed');
  if (revoked.length > 0) await cancelUnsentDeliveries(trx, { licenseIds: revoked }, 'licence revoked');
  if (renewed.length > 0 || revoked.length > 0) await closeEndedFollowUps(trx, [...renewed.map((c) => c.id), ...revoked]);
}

/**
 * The open cycles of renewed licences (their reminders of an earlier date) end `renewed`,
 * each credited to its last reminder that has reached the holder by now (a delivery sent or
 * delivered; the latest scan date, then the latest reminder), with the channels that reached
 * them with it. A cycle that a scan already found lapsed stays `expired`: its reminders are
 * no longer open. A cycle that nothing reached gets no credit.
 */
async function closeRenewedCycles(trx: Database, licenseIds: number[]): Promise<void> {
  await sql`
    with closing as (
      select r.id, r.license_id, r.expires_on, r.as_of
        from reminders r join licenses l on l.id = r.license_id
       where l.id = any(${licenseIds}::int[]) and r.outcome = 'open' and r.expires_on < l.expires_on
    ), reached as (
      select c.id, c.license_id, c.expires_on, c.as_of,
             case when count(distinct d.channel) = 2 then 'both' else min(d.channel) end as channels
        from closing c join deliveries d on d.reminder_id = c.id and d.status in ('sent', 'delivered')
       group by c.id, c.license_id, c.expires_on, c.as_of
    ), credited as (
      select distinct on (license_id, expires_on) id, channels
        from reached
       order by license_id, expires_on, as_of desc, id desc
    )
    update reminders r set outcome = 'renewed', outcome_at = now(), credited_channels = credited.channels
      from closing left join credited on credited.id = closing.id
     where r.id = closing.id`.execute(trx);
}

/**
 * The transaction commits without waiting for its flush to disk. For the import's chunks
 * only: the client learns of success only at the end, and a re-sent file is harmless (its
 * rows count as unchanged), so a crash loses nothing.
 */
export async function deferCommitFlush(trx: Database): Promise<void> {
  await sql`set local synchronous_commit = off`.execute(trx);
}

/** Which of these category codes exist. */
export async function existingCategoryCodes(db: Database, codes: string[]): Promise<Set<string>> {
  if (codes.length === 0) return new Set();
  const rows = await db.selectFrom('categories').select('code').where('code', 'in', [...new Set(codes)]).execute();
  return new Set(rows.map((r) => r.code));
}

/**
 * A licence as the API shows it: the fields of the contract, the id number masked (never
 * opened) and the phone masked; the whole phone is licenseContact's, whose reads are audited.
 */
const LICENSE_VIEW = [
  'id',
  ...LICENSE_FIELDS.filter((f): f is Exclude<(typeof LICENSE_FIELDS)[number], 'holderIdNo' | 'phone'> => f !== 'holderIdNo' && f !== 'phone'),
  'holderIdMasked as holderIdNo',
  maskedPhone(sql.ref<string | null>('phone')).as('phone'),
  'createdAt',
  'updatedAt',
] as const;

export interface LicenseFilter {
  categoryCode?: string;
  licenseNo?: string;
  expiresFrom?: string;
  expiresTo?: string;
  afterId?: number;
  limit: number;
}

export function listLicenses(db: Database, filter: LicenseFilter) {
  return db
    .selectFrom('licenses')
    .select(LICENSE_VIEW)
    .$if(filter.categoryCode !== undefined, (q) => q.where('categoryCode', '=', filter.categoryCode!))
    .$if(filter.licenseNo !== undefined, (q) => q.where('licenseNo', '=', filter.licenseNo!))
    .$if(filter.expiresFrom !== undefined, (q) => q.where('expiresOn', '>=', filter.expiresFrom!))
    .$if(filter.expiresTo !== undefined, (q) => q.where('expiresOn', '<=', filter.expiresTo!))
    .$if(filter.afterId !== undefined, (q) => q.where('id', '>', filter.afterId!))
    .orderBy('id')
    .limit(filter.limit)
    .execute();
}

export function findLicense(db: Database, id: number) {
  return db.selectFrom('licenses').select(LICENSE_VIEW).where('id', '=', id).executeTakeFirst();
}

/** A licence's contact as stored: the phone in E.164 and the platform user id; undefined when there is no such licence. */
export function licenseContact(db: Database, id: number) {
  return db.selectFrom('licenses').select(['phone', 'platformUserId']).where('id', '=', id).executeTakeFirst();
}

export function licenseRenewals(db: Database, licenseId: number) {
  return db
    .selectFrom('renewals')
    .select(['oldExpiresOn', 'newExpiresOn', 'createdAt'])
    .where('licenseId', '=', licenseId)
    .orderBy('id')
    .execute();
}
