#ifndef KINESIS_H
#define KINESIS_H

/**
 * \file
 * libkinesis: an asynchronous Amazon Kinesis Data Streams client for libuv.
 * This header includes every other one but kinesis/testing.h, the fake
 * service's, which is libkinesis-testing's. The API is that of version 0.9.0;
 * from then on, each addition carries "Since X.Y" in its comment.
 * docs/reference.md states the rules every object and function follows:
 * ownership, callbacks, closing, errors, options and how they grow.
 */

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
