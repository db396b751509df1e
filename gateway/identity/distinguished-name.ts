// Renders an X.509 name as an RFC 4514 string so the registry can bind a certificate by
// issuer + serial number with a value an officer can read and compare.
import forge from 'node-forge';

/** OIDs node-forge has no short name for, rendered with the names used in eIDAS certificates. */
const EXTRA_SHORT_NAMES: Readonly<Record<string, string>> = {
  '2.5.4.97': 'organizationIdentifier',
};

/** Characters RFC 4514 §2.4 requires to be escaped inside an attribute value. */
function escapeAttributeValue(value: string): string {
  let escaped = value.replace(/[\\"+,;<>=]/g, (ch) => `\\${ch}`);
  if (escaped.startsWith(' ') || escaped.startsWith('#')) escaped = `\\${escaped}`;
  if (escaped.endsWith(' ') && escaped.length > 1) escaped = `${escaped.slice(0, -1)}\\ `;
  return escaped;
}

/**
 * RFC 4514 string of a node-forge name, most specific attribute first
 * (e.g. `CN=Hetao Zone Issuing CA (DEVELOPMENT ONLY),O=…,C=CN`).
 */
export function formatDistinguishedName(name: forge.pki.Certificate['issuer']): string {
  return name.attributes
    .map((attribute) => {
      const type = attribute.shortName ?? EXTRA_SHORT_NAMES[attribute.type ?? ''] ?? attribute.type ?? '';
      return `${type}=${escapeAttributeValue(String(attribute.value))}`;
    })
    .reverse()
    .join(',');
}
