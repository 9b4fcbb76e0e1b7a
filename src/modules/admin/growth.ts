import { gte, sql } from 'drizzle-orm';
import type { Db } from '../../db/client.js';
import { channelDays, type Channel } from '../../db/schema.js';

/** How /admin names each channel. */
export const CHANNEL_LABELS: Record<Channel, string> = {
  email: 'Email',
  whatsapp: 'WhatsApp',
  x: 'X',
  facebook: 'Facebook',
  linkedin: 'LinkedIn',
  telegram: 'Telegram',
  qr: 'QR code',
  copy: 'Copied link',
  link: 'Link without a channel',
  other: 'Other (unknown src)',
  code: 'Typed code',
  api: 'Integration API',
  admin: 'Admin',
  unknown: 'Before channels were recorded',
};

export const FUNNEL_WINDOWS = ['30d', 'all'] as const;
export type FunnelWindow = (typeof FUNNEL_WINDOWS)[number];

export interface FunnelRow {
  channel: Channel;
  label: string;
  clicks: number;
  signups: number;
  confirmed: number;
  credited: number;
}

const n = (column: unknown) => sql<number>`coalesce(sum(${column}), 0)`.mapWith(Number);

/** The funnel per channel, from channel_days (kept by triggers, migration 0020): a few rows per day, never the clicks or referrals. */
export function createGrowthRepository(db: Db) {
  return {
    async funnel(sinceDay: number | null): Promise<FunnelRow[]> {
      const rows = await db
        .select({
          channel: channelDays.channel,
          clicks: n(channelDays.clicks),
          signups: n(channelDays.signups),
          confirmed: n(channelDays.confirmed),
          credited: n(channelDays.credited),
        })
        .from(channelDays)
        .where(sinceDay === null ? undefined : gte(channelDays.day, sinceDay))
        .groupBy(channelDays.channel);
      return rows
        .map((r) => ({ ...r, channel: r.channel as Channel, label: CHANNEL_LABELS[r.channel as Channel] ?? r.channel }))
        .filter((r) => r.clicks + r.signups > 0)
        .sort((a, b) => b.credited - a.credited || b.signups - a.signups || b.clicks - a.clicks || a.label.localeCompare(b.label));
    },
  };
}

export type GrowthRepository = ReturnType<typeof createGrowthRepository>;

/**
 * The viral coefficient as /admin shows it: credited referrals per participant. All time,
 * every credited referral over everyone who has joined; over 30 days, the referrals
 * credited in those 30 days over the same participants (how many new people each
 * participant brought lately). Above 1, every participant brings in more than one more.
 * Null with no participants.
 */
export function viralCoefficient(credited: number, participants: number): number | null {
  return participants > 0 ? credited / participants : null;
}
