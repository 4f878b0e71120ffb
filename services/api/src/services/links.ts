import { openLink, type Database } from '@lr/db';
import { isLinkToken, linkAnswer, localDate, oldestWorkingExpiry } from '@lr/domain';
import type { Counters } from '@lr/jobs';

/**
 * Today's date in `timezone`, worked out at most once a second (formatting a date costs as much
 * as a tenth of an opening's work): a link lapses within a second of midnight.
 */
function today(timezone: string): () => string {
  let second = -1;
  let date = '';
  return () => {
    const now = Math.floor(Date.now() / 1000);
    if (now !== second) [second, date] = [now, localDate(timezone)];
    return date;
  };
}

export interface LinkServiceDeps {
  db: Database;
  counters: Counters;
  /** REMINDER_TIMEZONE: a link works until its licences' dates have passed there */
  timezone: string;
}

/** A holder's personal renewal links (docs/rules.md, "Renewal links"). */
export function linkService({ db, counters, timezone }: LinkServiceDeps) {
  const businessDay = today(timezone);
  return {
    /**
     * What opening the link `token` leads to (the renewal, or a page of the licences); undefined
     * when it is not a working link, malformed or not. A working opening is counted.
     */
    async open(token: string): Promise<ReturnType<typeof linkAnswer> | undefined> {
      const opened = isLinkToken(token) ? await openLink(db, token, oldestWorkingExpiry(businessDay())) : undefined;
      if (!opened?.works) return undefined;
      counters.add('linkOpenings', 1);
      return linkAnswer(opened.licenses);
    },
  };
}
