#ifndef KINESIS_H
#define KINESIS_H

/* libkinesis: an asynchronous Amazon Kinesis Data Streams client for libuv. */

#include <uv.h>

#include "kinesis/version.h"
#include "kinesis/errno.h"
#include "kinesis/hooks.h"
#include "kinesis/client.h"
#include "kinesis/producer.h"
#include "kinesis/checkpoint.h"
#include "kinesis/consumer.h"
#include "kinesis/stats.h"

#endif /* KINESIS_H */
