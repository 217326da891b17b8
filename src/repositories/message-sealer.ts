import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createSecretKey,
  randomFillSync,
  type KeyObject,
} from 'node:crypto';

const ALGORITHM = 'aes-256-gcm';
const VERSION = 'v1';
const IV_BYTES = 12;
/** IVs drawn from one CSPRNG fill: a sync call per 12 bytes cost more than the cipher (profile). */
const IV_POOL_BYTES = IV_BYTES * 512;

/** A sealed value could not be opened: wrong or retired key, or the row was altered. */
export class SealedValueError extends Error {
  override readonly name = 'SealedValueError';
}

/**
 * Seals personal data at rest (contacts and content of a stored command, contacts on a stored
 * profile) with AES-256-GCM. What the value belongs to (the message id; the customer and field) is
 * bound as associated data, so a sealed value copied onto another row does not open. Keys rotate:
 * new values use the active key, older ones open with any listed previous key.
 */
export class MessageSealer {
  /** Key objects, made once: a raw key given to createCipheriv is imported again on every call. */
  private readonly keys: ReadonlyMap<string, KeyObject>;
  private readonly activeId: string;
  private readonly ivPool = Buffer.allocUnsafe(IV_POOL_BYTES);
  private ivPoolOffset = IV_POOL_BYTES;

  constructor(active: Buffer, previous: readonly Buffer[] = []) {
    for (const key of [active, ...previous]) {
      if (key.length !== 32) throw new RangeError('message-log keys must be 32 bytes');
    }
    this.activeId = keyId(active);
    this.keys = new Map([active, ...previous].map((key) => [keyId(key), createSecretKey(key)]));
  }

  seal(plaintext: string, boundTo: string): string {
    const iv = this.nextIv();
    const cipher = createCipheriv(ALGORITHM, this.keys.get(this.activeId)!, iv);
    cipher.setAAD(Buffer.from(boundTo, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [VERSION, this.activeId, b64(iv), b64(cipher.getAuthTag()), b64(body)].join('.');
  }

  /** A fresh random IV: random 96-bit IVs, as before, only fetched from the CSPRNG in bulk. */
  private nextIv(): Buffer {
    if (this.ivPoolOffset + IV_BYTES > IV_POOL_BYTES) {
      randomFillSync(this.ivPool);
      this.ivPoolOffset = 0;
    }
    const iv = Buffer.from(this.ivPool.subarray(this.ivPoolOffset, this.ivPoolOffset + IV_BYTES));
    this.ivPoolOffset += IV_BYTES;
    return iv;
  }

  open(sealed: string, boundTo: string): string {
    const [version, id, iv, tag, body] = sealed.split('.');
    if (version !== VERSION || !id || iv === undefined || tag === undefined || body === undefined) {
      throw new SealedValueError('not a sealed value of a known format');
    }
    const key = this.keys.get(id);
    if (!key) throw new SealedValueError(`sealed with key ${id}, which is not configured`);
    try {
      const decipher = createDecipheriv(ALGORITHM, key, Buffer.from(iv, 'base64url'));
      decipher.setAAD(Buffer.from(boundTo, 'utf8'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      const plain = Buffer.concat([
        decipher.update(Buffer.from(body, 'base64url')),
        decipher.final(),
      ]);
      return plain.toString('utf8');
    } catch (error) {
      throw new SealedValueError('sealed value failed authentication', { cause: error });
    }
  }
}

/** A short public fingerprint of a key, stored beside each value so rotation knows which opens it. */
function keyId(key: Buffer): string {
  return createHash('sha256').update(key).digest('hex').slice(0, 8);
}

function b64(buffer: Buffer): string {
  return buffer.toString('base64url');
}
