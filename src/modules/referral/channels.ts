import { z } from 'zod';
import { CHANNELS, SHARE_CHANNELS, type Channel, type Referral } from '../../db/schema.js';

/**
 * Where a click or a referred sign-up came from: the channel of the share link (`?src=`)
 * and any campaign tags the host added (`utm_source`, `utm_medium`, `utm_campaign`).
 */
export interface Attribution {
  channel: Channel;
  utmSource: string | null;
  utmMedium: string | null;
  utmCampaign: string | null;
}

/** The cookie /r/:code sets beside the code, so the sign-up it leads to keeps the click's channel. */
export const REF_CHANNEL_COOKIE = 'ref_ch';

export const UTM_MAX = 100;

const shareChannels: ReadonlySet<string> = new Set(SHARE_CHANNELS);

/**
 * A tag as we keep it: a string (the first, if the parameter came twice), without control
 * characters, trimmed, at most UTM_MAX characters; anything else is no tag. A link is
 * followed by people, never refused: a strange tag is dropped, not answered with a 400.
 */
function tag(value: unknown): string | null {
  const first = Array.isArray(value) ? (value as unknown[])[0] : value;
  if (typeof first !== 'string') return null;
  // eslint-disable-next-line no-control-regex
  const clean = first.replace(/[\u0000-\u001f\u007f-\u009f]/g, '').trim();
  return clean ? clean.slice(0, UTM_MAX) : null;
}

/** The attribution of a click on /r/:code from its query: a known `src`, else 'other', else 'link'. */
export function attributionOf(query: Record<string, unknown>): Attribution {
  const src = tag(query.src)?.toLowerCase() ?? null;
  return {
    channel: src === null ? 'link' : shareChannels.has(src) ? (src as Channel) : 'other',
    utmSource: tag(query.utm_source),
    utmMedium: tag(query.utm_medium),
    utmCampaign: tag(query.utm_campaign),
  };
}

/** A referral that did not come through a link: its source names its channel. */
export function attributionBySource(source: Referral['source']): Attribution {
  const channel: Channel = source === 'api' ? 'api' : source === 'admin' ? 'admin' : 'code';
  return { channel, utmSource: null, utmMedium: null, utmCampaign: null };
}

const CookieSchema = z.object({
  code: z.string().max(40),
  channel: z.enum(CHANNELS),
  utmSource: z.string().max(UTM_MAX).nullable(),
  utmMedium: z.string().max(UTM_MAX).nullable(),
  utmCampaign: z.string().max(UTM_MAX).nullable(),
});

/** The cookie's value: the link's code with its attribution. */
export const channelCookie = (code: string, attribution: Attribution) => JSON.stringify({ code, ...attribution });

/**
 * The attribution of a sign-up: the last link's, when the code it was made with is that
 * link's code; otherwise the code was typed (or the browser kept no cookie), 'code'. The
 * cookie comes from the client, so it is read as untrusted input: anything malformed is
 * ignored.
 */
export function signupAttribution(cookie: unknown, referralCode: string): Attribution {
  if (typeof cookie === 'string') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(cookie);
    } catch {
      parsed = null;
    }
    const read = CookieSchema.safeParse(parsed);
    if (read.success && read.data.code === referralCode) {
      const { code: _code, ...attribution } = read.data;
      return attribution;
    }
  }
  return attributionBySource('signup');
}
