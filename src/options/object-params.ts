/**
 * The fields objectParams may return: PutObject's input, each with the type its request takes. The SDK
 * drops a field it does not know (`bucket`, `contentLanguage`) and sends a number as text, so either
 * would upload without what the caller asked for, unsaid.
 */
import type { CreateMultipartUploadCommandInput, PutObjectCommandInput } from '@aws-sdk/client-s3';
import { usageError } from '../errors.js';
import { shown } from './parse.js';
import { didYouMean } from './validate.js';

type FieldType = 'string' | 'number' | 'boolean' | 'date' | 'strings' | 'body';

/** PutObjectRequest's fields (@aws-sdk/client-s3), by the type each takes; the compiler holds it to them. */
const PUT_OBJECT_FIELDS: Readonly<Record<string, FieldType>> = Object.freeze({
  ACL: 'string',
  Body: 'body',
  Bucket: 'string',
  CacheControl: 'string',
  ContentDisposition: 'string',
  ContentEncoding: 'string',
  ContentLanguage: 'string',
  ContentLength: 'number',
  ContentMD5: 'string',
  ContentType: 'string',
  ChecksumAlgorithm: 'string',
  ChecksumCRC32: 'string',
  ChecksumCRC32C: 'string',
  ChecksumCRC64NVME: 'string',
  ChecksumSHA1: 'string',
  ChecksumSHA256: 'string',
  ChecksumSHA512: 'string',
  ChecksumMD5: 'string',
  ChecksumXXHASH64: 'string',
  ChecksumXXHASH3: 'string',
  ChecksumXXHASH128: 'string',
  Expires: 'date',
  IfMatch: 'string',
  IfNoneMatch: 'string',
  GrantFullControl: 'string',
  GrantRead: 'string',
  GrantReadACP: 'string',
  GrantWriteACP: 'string',
  Key: 'string',
  WriteOffsetBytes: 'number',
  Metadata: 'strings',
  ServerSideEncryption: 'string',
  StorageClass: 'string',
  WebsiteRedirectLocation: 'string',
  SSECustomerAlgorithm: 'string',
  SSECustomerKey: 'string',
  SSECustomerKeyMD5: 'string',
  SSEKMSKeyId: 'string',
  SSEKMSEncryptionContext: 'string',
  BucketKeyEnabled: 'boolean',
  RequestPayer: 'string',
  Tagging: 'string',
  ObjectLockMode: 'string',
  ObjectLockRetainUntilDate: 'date',
  ObjectLockLegalHoldStatus: 'string',
  ObjectLockEventHold: 'string',
  ObjectLockEventHoldDurationDays: 'number',
  ObjectLockEventHoldDurationYears: 'number',
  ExpectedBucketOwner: 'string',
} satisfies Record<keyof PutObjectCommandInput, FieldType>);

/** Every checksum field of the requests objectParams feeds (PutObject, CreateMultipartUpload). */
type ChecksumField = Extract<
  keyof PutObjectCommandInput | keyof CreateMultipartUploadCommandInput,
  `Checksum${string}`
>;

/**
 * The checksum fields objectParams may not set, every one the SDK knows (the compiler fails on one it
 * adds, until it is listed here): s3sync sends each body's Content-MD5 and checks the object end to end
 * by it, and another algorithm, type or value given per file would replace or contradict that check.
 */
export const CHECKSUM_FIELDS: readonly ChecksumField[] = Object.freeze(
  Object.keys({
    ChecksumAlgorithm: 'refused',
    ChecksumType: 'refused',
    ChecksumCRC32: 'refused',
    ChecksumCRC32C: 'refused',
    ChecksumCRC64NVME: 'refused',
    ChecksumMD5: 'refused',
    ChecksumSHA1: 'refused',
    ChecksumSHA256: 'refused',
    ChecksumSHA512: 'refused',
    ChecksumXXHASH3: 'refused',
    ChecksumXXHASH64: 'refused',
    ChecksumXXHASH128: 'refused',
  } satisfies Record<ChecksumField, 'refused'>) as ChecksumField[],
);

const TYPE_WORDS: Readonly<Record<FieldType, string>> = Object.freeze({
  string: 'a string',
  number: 'a number',
  boolean: 'true or false',
  date: 'a Date',
  strings: 'an object of strings',
  body: 'a body',
});

const fits = (type: FieldType, v: unknown): boolean => {
  if (type === 'date') return v instanceof Date && !Number.isNaN(v.getTime());
  if (type === 'number') return typeof v === 'number' && Number.isFinite(v);
  if (type === 'strings') return typeof v === 'object' && v !== null && !Array.isArray(v);
  return type === 'body' || typeof v === type;
};

/**
 * Refuses what objectParams returned that a request would not carry as given: a field s3sync sets
 * (`controlled`), one PutObject does not take (with the field it likely meant), a value of another type.
 * An undefined value is no field, as the SDK reads it.
 */
export function checkPutObjectFields(fields: object, controlled: ReadonlySet<string>): void {
  const allowed = Object.keys(PUT_OBJECT_FIELDS).filter((k) => !controlled.has(k));
  for (const [k, v] of Object.entries(fields)) {
    if (controlled.has(k))
      throw usageError(`objectParams may not set ${k}: s3sync sets it (or an option does)`);
    if (v === undefined) continue;
    const type = Object.hasOwn(PUT_OBJECT_FIELDS, k) ? PUT_OBJECT_FIELDS[k] : undefined;
    if (type === undefined) {
      const guess = didYouMean(k, allowed);
      throw usageError(
        `objectParams returned ${shown(k)}, which is no PutObject field${guess ? ` (did you mean ${guess}?)` : ''}`,
      );
    }
    if (!fits(type, v))
      throw usageError(`objectParams field ${k} must be ${TYPE_WORDS[type]}, got ${shown(v)}`);
  }
}
