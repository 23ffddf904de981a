/** An S3 server the integration suite runs against, started by global-setup.ts. */
export interface TestServer {
  name: 'embedded' | 'ceph';
  endpoint: string;
  accessKeyId: string;
  secretAccessKey: string;
  provider: string;
  /** Known deviations from AWS S3 that tests may take into account (never the tool). */
  quirks: {
    /** s3rver: a multipart object's ETag is the MD5 of the whole object, not md5-of-md5s-N. */
    multipartEtagIsWholeMd5: boolean;
    /** s3rver has no ListParts. */
    hasListParts: boolean;
  };
}

declare module 'vitest' {
  export interface ProvidedContext {
    servers: TestServer[];
  }
}
