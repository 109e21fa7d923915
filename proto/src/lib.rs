//! Mesos v1 protobuf messages, Mesos-JSON mapping and RecordIO.
