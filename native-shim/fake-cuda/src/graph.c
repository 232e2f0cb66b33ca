/*
 * CUDA graphs, reduced to what the timeline needs: a graph counts its kernel nodes, and
 * launching an instantiated graph occupies the device for that many kernel times. Graphs
 * are built with cuGraphAddKernelNode / cuGraphAddNode or by capturing a stream.
 */
#include "fake.h"

#include <stdatomic.h>
#include <stdlib.h>

#define GRAPH_EXEC_MAGIC 0x67657821u

struct CUgraphExec_st {
  uint32_t magic;
  uint64_t kernel_nodes;
};

/* Node handles are never dereferenced: unique opaque values are enough. */
static atomic_uintptr_t next_node_id;

CUgraph fake_graph_new(void) {
  CUgraph graph = calloc(1, sizeof(*graph));
  if (graph != NULL) {
    graph->magic = FAKE_GRAPH_MAGIC;
  }
  return graph;
}

static bool graph_valid(CUgraph graph) {
  return graph != NULL && graph->magic == FAKE_GRAPH_MAGIC;
}

static CUresult add_node(CUgraphNode *phGraphNode, CUgraph hGraph, uint64_t kernels) {
  if (phGraphNode == NULL || !graph_valid(hGraph)) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  hGraph->kernel_nodes += kernels;
  *phGraphNode = (CUgraphNode)(atomic_fetch_add(&next_node_id, 16) + 16);
  return CUDA_SUCCESS;
}

CUresult cuGraphCreate(CUgraph *phGraph, unsigned int flags) {
  if (phGraph == NULL || flags != 0) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  if (!fake_initialized()) {
    return CUDA_ERROR_NOT_INITIALIZED;
  }
  CUgraph graph = fake_graph_new();
  if (graph == NULL) {
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  *phGraph = graph;
  return CUDA_SUCCESS;
}

CUresult cuGraphDestroy(CUgraph hGraph) {
  if (!graph_valid(hGraph)) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  hGraph->magic = 0;
  free(hGraph);
  return CUDA_SUCCESS;
}

CUresult cuGraphAddKernelNode_v2(CUgraphNode *phGraphNode, CUgraph hGraph,
                                 const CUgraphNode *dependencies, size_t numDependencies,
                                 const CUDA_KERNEL_NODE_PARAMS *nodeParams) {
  (void)dependencies, (void)numDependencies;
  if (nodeParams == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  return add_node(phGraphNode, hGraph, 1);
}

CUresult cuGraphAddKernelNode(CUgraphNode *phGraphNode, CUgraph hGraph,
                              const CUgraphNode *dependencies, size_t numDependencies,
                              const CUDA_KERNEL_NODE_PARAMS_v1 *nodeParams) {
  (void)dependencies, (void)numDependencies;
  if (nodeParams == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  return add_node(phGraphNode, hGraph, 1);
}

CUresult cuGraphAddEmptyNode(CUgraphNode *phGraphNode, CUgraph hGraph,
                             const CUgraphNode *dependencies, size_t numDependencies) {
  (void)dependencies, (void)numDependencies;
  return add_node(phGraphNode, hGraph, 0);
}

static CUresult add_generic_node(CUgraphNode *phGraphNode, CUgraph hGraph,
                                 const CUgraphNodeParams *nodeParams) {
  if (nodeParams == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  return add_node(phGraphNode, hGraph, nodeParams->type == CU_GRAPH_NODE_TYPE_KERNEL ? 1 : 0);
}

CUresult cuGraphAddNode_v2(CUgraphNode *phGraphNode, CUgraph hGraph,
                           const CUgraphNode *dependencies, const CUgraphEdgeData *dependencyData,
                           size_t numDependencies, CUgraphNodeParams *nodeParams) {
  (void)dependencies, (void)dependencyData, (void)numDependencies;
  return add_generic_node(phGraphNode, hGraph, nodeParams);
}

CUresult cuGraphAddNode(CUgraphNode *phGraphNode, CUgraph hGraph, const CUgraphNode *dependencies,
                        size_t numDependencies, CUgraphNodeParams *nodeParams) {
  (void)dependencies, (void)numDependencies;
  return add_generic_node(phGraphNode, hGraph, nodeParams);
}

static CUresult instantiate(CUgraphExec *phGraphExec, CUgraph hGraph) {
  if (phGraphExec == NULL || !graph_valid(hGraph)) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  CUgraphExec exec = calloc(1, sizeof(*exec));
  if (exec == NULL) {
    return CUDA_ERROR_OUT_OF_MEMORY;
  }
  exec->magic = GRAPH_EXEC_MAGIC;
  exec->kernel_nodes = hGraph->kernel_nodes;
  *phGraphExec = exec;
  return CUDA_SUCCESS;
}

CUresult cuGraphInstantiateWithFlags(CUgraphExec *phGraphExec, CUgraph hGraph,
                                     unsigned long long flags) {
  (void)flags;
  return instantiate(phGraphExec, hGraph);
}

CUresult cuGraphInstantiate_v2(CUgraphExec *phGraphExec, CUgraph hGraph,
                               CUgraphNode *phErrorNode, char *logBuffer, size_t bufferSize) {
  (void)phErrorNode, (void)logBuffer, (void)bufferSize;
  return instantiate(phGraphExec, hGraph);
}

CUresult cuGraphInstantiate(CUgraphExec *phGraphExec, CUgraph hGraph, CUgraphNode *phErrorNode,
                            char *logBuffer, size_t bufferSize) {
  (void)phErrorNode, (void)logBuffer, (void)bufferSize;
  return instantiate(phGraphExec, hGraph);
}

static CUresult instantiate_with_params(CUgraphExec *phGraphExec, CUgraph hGraph,
                                        CUDA_GRAPH_INSTANTIATE_PARAMS *instantiateParams) {
  CUresult rc = instantiate(phGraphExec, hGraph);
  if (instantiateParams != NULL) {
    instantiateParams->result_out =
        rc == CUDA_SUCCESS ? CUDA_GRAPH_INSTANTIATE_SUCCESS : CUDA_GRAPH_INSTANTIATE_ERROR;
  }
  return rc;
}

CUresult cuGraphInstantiateWithParams(CUgraphExec *phGraphExec, CUgraph hGraph,
                                      CUDA_GRAPH_INSTANTIATE_PARAMS *instantiateParams) {
  return instantiate_with_params(phGraphExec, hGraph, instantiateParams);
}

CUresult cuGraphInstantiateWithParams_ptsz(CUgraphExec *phGraphExec, CUgraph hGraph,
                                           CUDA_GRAPH_INSTANTIATE_PARAMS *instantiateParams) {
  return instantiate_with_params(phGraphExec, hGraph, instantiateParams);
}

CUresult cuGraphExecDestroy(CUgraphExec hGraphExec) {
  if (hGraphExec == NULL || hGraphExec->magic != GRAPH_EXEC_MAGIC) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  hGraphExec->magic = 0;
  free(hGraphExec);
  return CUDA_SUCCESS;
}

static CUresult graph_launch(CUgraphExec hGraphExec, CUstream hStream) {
  if (hGraphExec == NULL || hGraphExec->magic != GRAPH_EXEC_MAGIC) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  return fake_launch(hStream, hGraphExec->kernel_nodes);
}

CUresult cuGraphLaunch(CUgraphExec hGraphExec, CUstream hStream) {
  return graph_launch(hGraphExec, hStream);
}

CUresult cuGraphLaunch_ptsz(CUgraphExec hGraphExec, CUstream hStream) {
  return graph_launch(hGraphExec, hStream);
}

static CUresult graph_upload(CUgraphExec hGraphExec, CUstream hStream) {
  CUdevice dev;
  if (hGraphExec == NULL || hGraphExec->magic != GRAPH_EXEC_MAGIC) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  return fake_stream_device(hStream, &dev);
}

CUresult cuGraphUpload(CUgraphExec hGraphExec, CUstream hStream) {
  return graph_upload(hGraphExec, hStream);
}

CUresult cuGraphUpload_ptsz(CUgraphExec hGraphExec, CUstream hStream) {
  return graph_upload(hGraphExec, hStream);
}

/* Stream capture */

CUresult cuStreamBeginCapture_v2(CUstream hStream, CUstreamCaptureMode mode) {
  (void)mode;
  return fake_stream_begin_capture(hStream);
}

CUresult cuStreamBeginCapture_v2_ptsz(CUstream hStream, CUstreamCaptureMode mode) {
  (void)mode;
  return fake_stream_begin_capture(hStream);
}

CUresult cuStreamBeginCapture(CUstream hStream) {
  return fake_stream_begin_capture(hStream);
}

CUresult cuStreamBeginCapture_ptsz(CUstream hStream) {
  return fake_stream_begin_capture(hStream);
}

CUresult cuStreamEndCapture(CUstream hStream, CUgraph *phGraph) {
  return fake_stream_end_capture(hStream, phGraph);
}

CUresult cuStreamEndCapture_ptsz(CUstream hStream, CUgraph *phGraph) {
  return fake_stream_end_capture(hStream, phGraph);
}

static CUresult is_capturing(CUstream hStream, CUstreamCaptureStatus *captureStatus) {
  uint64_t id;
  if (captureStatus == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  return fake_stream_capture_status(hStream, captureStatus, &id);
}

CUresult cuStreamIsCapturing(CUstream hStream, CUstreamCaptureStatus *captureStatus) {
  return is_capturing(hStream, captureStatus);
}

CUresult cuStreamIsCapturing_ptsz(CUstream hStream, CUstreamCaptureStatus *captureStatus) {
  return is_capturing(hStream, captureStatus);
}

static CUresult capture_info(CUstream hStream, CUstreamCaptureStatus *captureStatus_out,
                             cuuint64_t *id_out, CUgraph *graph_out,
                             const CUgraphNode **dependencies_out,
                             const CUgraphEdgeData **edgeData_out,
                             size_t *numDependencies_out) {
  CUstreamCaptureStatus status;
  uint64_t id;
  if (captureStatus_out == NULL) {
    return CUDA_ERROR_INVALID_VALUE;
  }
  CUresult rc = fake_stream_capture_status(hStream, &status, &id);
  if (rc != CUDA_SUCCESS) {
    return rc;
  }
  *captureStatus_out = status;
  if (id_out != NULL) {
    *id_out = id;
  }
  if (graph_out != NULL) {
    *graph_out = NULL;
  }
  if (dependencies_out != NULL) {
    *dependencies_out = NULL;
  }
  if (edgeData_out != NULL) {
    *edgeData_out = NULL;
  }
  if (numDependencies_out != NULL) {
    *numDependencies_out = 0;
  }
  return CUDA_SUCCESS;
}

CUresult cuStreamGetCaptureInfo(CUstream hStream, CUstreamCaptureStatus *captureStatus_out,
                                cuuint64_t *id_out) {
  return capture_info(hStream, captureStatus_out, id_out, NULL, NULL, NULL, NULL);
}

CUresult cuStreamGetCaptureInfo_ptsz(CUstream hStream, CUstreamCaptureStatus *captureStatus_out,
                                     cuuint64_t *id_out) {
  return capture_info(hStream, captureStatus_out, id_out, NULL, NULL, NULL, NULL);
}

CUresult cuStreamGetCaptureInfo_v2(CUstream hStream, CUstreamCaptureStatus *captureStatus_out,
                                   cuuint64_t *id_out, CUgraph *graph_out,
                                   const CUgraphNode **dependencies_out,
                                   size_t *numDependencies_out) {
  return capture_info(hStream, captureStatus_out, id_out, graph_out, dependencies_out, NULL,
                      numDependencies_out);
}

CUresult cuStreamGetCaptureInfo_v2_ptsz(CUstream hStream,
                                        CUstreamCaptureStatus *captureStatus_out,
                                        cuuint64_t *id_out, CUgraph *graph_out,
                                        const CUgraphNode **dependencies_out,
                                        size_t *numDependencies_out) {
  return capture_info(hStream, captureStatus_out, id_out, graph_out, dependencies_out, NULL,
                      numDependencies_out);
}

CUresult cuStreamGetCaptureInfo_v3(CUstream hStream, CUstreamCaptureStatus *captureStatus_out,
                                   cuuint64_t *id_out, CUgraph *graph_out,
                                   const CUgraphNode **dependencies_out,
                                   const CUgraphEdgeData **edgeData_out,
                                   size_t *numDependencies_out) {
  return capture_info(hStream, captureStatus_out, id_out, graph_out, dependencies_out,
                      edgeData_out, numDependencies_out);
}

CUresult cuStreamGetCaptureInfo_v3_ptsz(CUstream hStream,
                                        CUstreamCaptureStatus *captureStatus_out,
                                        cuuint64_t *id_out, CUgraph *graph_out,
                                        const CUgraphNode **dependencies_out,
                                        const CUgraphEdgeData **edgeData_out,
                                        size_t *numDependencies_out) {
  return capture_info(hStream, captureStatus_out, id_out, graph_out, dependencies_out,
                      edgeData_out, numDependencies_out);
}
