#include "gc.h"
