/** The shell of metadata/: a broker's gRPC fetch of the metadata log from the controllers. */
export * from './metadata-fetch-transport';
