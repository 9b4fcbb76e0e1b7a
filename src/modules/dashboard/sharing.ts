import { LRUCache } from 'lru-cache';
import QRCode from 'qrcode';
import type { SHARE_CHANNELS } from '../../db/schema.js';

export type ShareChannel = (typeof SHARE_CHANNELS)[number];

/** The link as shared through one channel: `?src=` tells /r where the click came from. */
export const channelLink = (link: string, channel: ShareChannel) => `${link}?src=${channel}`;

export interface ShareLink {
  network: string;
  label: string;
  href: string;
}

/**
 * Plain share links: each network's documented share URL, opened as an ordinary link.
 * No third-party script runs on our page, and they work with JavaScript off.
 */
export function shareLinks(link: string): ShareLink[] {
  const text = 'Join me! Sign up with my invite link:';
  const e = encodeURIComponent;
  const via = (channel: ShareChannel) => e(channelLink(link, channel));
  return [
    { network: 'email', label: 'Email', href: `mailto:?subject=${e('Join me')}&body=${e(`${text} `)}${via('email')}` },
    { network: 'whatsapp', label: 'WhatsApp', href: `https://wa.me/?text=${e(`${text} `)}${via('whatsapp')}` },
    { network: 'x', label: 'X', href: `https://x.com/intent/post?text=${e(text)}&url=${via('x')}` },
    { network: 'facebook', label: 'Facebook', href: `https://www.facebook.com/sharer/sharer.php?u=${via('facebook')}` },
    { network: 'linkedin', label: 'LinkedIn', href: `https://www.linkedin.com/sharing/share-offsite/?url=${via('linkedin')}` },
    { network: 'telegram', label: 'Telegram', href: `https://t.me/share/url?url=${via('telegram')}&text=${e(text)}` },
  ];
}

const cache = new LRUCache<string, string>({ max: 1000 });

/**
 * The referral link as a QR code in SVG, generated on the server (no script, scales to
 * any print size). Labelled for screen readers; the same SVG is offered as a download.
 * It encodes the link with `?src=qr`, so scans count as their own channel.
 */
export async function qrSvg(referralLink: string): Promise<string> {
  const link = channelLink(referralLink, 'qr');
  const hit = cache.get(link);
  if (hit) return hit;
  const svg = await QRCode.toString(link, { type: 'svg', margin: 2, errorCorrectionLevel: 'M', color: { dark: '#000000', light: '#ffffff' } });
  const labelled = svg.replace('<svg ', `<svg role="img" aria-label="QR code of your referral link" class="qr-svg" `);
  cache.set(link, labelled);
  return labelled;
}
