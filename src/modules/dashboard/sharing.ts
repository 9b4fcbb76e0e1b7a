import { LRUCache } from 'lru-cache';
import QRCode from 'qrcode';

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
  return [
    { network: 'email', label: 'Email', href: `mailto:?subject=${e('Join me')}&body=${e(`${text} ${link}`)}` },
    { network: 'whatsapp', label: 'WhatsApp', href: `https://wa.me/?text=${e(`${text} ${link}`)}` },
    { network: 'x', label: 'X', href: `https://x.com/intent/post?text=${e(text)}&url=${e(link)}` },
    { network: 'facebook', label: 'Facebook', href: `https://www.facebook.com/sharer/sharer.php?u=${e(link)}` },
    { network: 'linkedin', label: 'LinkedIn', href: `https://www.linkedin.com/sharing/share-offsite/?url=${e(link)}` },
    { network: 'telegram', label: 'Telegram', href: `https://t.me/share/url?url=${e(link)}&text=${e(text)}` },
  ];
}

const cache = new LRUCache<string, string>({ max: 1000 });

/**
 * The referral link as a QR code in SVG, generated on the server (no script, scales to
 * any print size). Labelled for screen readers; the same SVG is offered as a download.
 */
export async function qrSvg(link: string): Promise<string> {
  const hit = cache.get(link);
  if (hit) return hit;
  const svg = await QRCode.toString(link, { type: 'svg', margin: 2, errorCorrectionLevel: 'M', color: { dark: '#000000', light: '#ffffff' } });
  const labelled = svg.replace('<svg ', `<svg role="img" aria-label="QR code of your referral link" class="qr-svg" `);
  cache.set(link, labelled);
  return labelled;
}
