//! A `log.v1.Log` service that stores nothing: the baseline the benchmarks
//! measure the real service against.
//!
//! `Produce` answers with a counter at once; `ProduceStream` has the real
//! service's shape (a spawned task, a bounded channel as large as the
//! service's, a `ReceiverStream`) and answers each request with one
//! response. Same messages, same codec, same transport: nothing that speaks
//! this protocol through tonic can be much faster, so the gap between it and
//! [`LogService`](crate::LogService) is what the log costs.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};

use crate::api::v1::log_server::Log;
use crate::api::v1::{
    ConsumeRequest, ConsumeResponse, GetServersRequest, GetServersResponse, ProduceRequest,
    ProduceResponse,
};
use crate::service::ServiceConfig;

/// The `Log` service with no log: the cost of gRPC alone.
#[derive(Debug, Default)]
pub struct EchoService {
    next_offset: Arc<AtomicU64>,
}

#[tonic::async_trait]
impl Log for EchoService {
    async fn produce(
        &self,
        _request: Request<ProduceRequest>,
    ) -> Result<Response<ProduceResponse>, Status> {
        let offset = self.next_offset.fetch_add(1, Ordering::Relaxed);
        Ok(Response::new(ProduceResponse { offset }))
    }

    async fn consume(
        &self,
        _request: Request<ConsumeRequest>,
    ) -> Result<Response<ConsumeResponse>, Status> {
        Err(Status::unimplemented("the echo server stores nothing"))
    }

    type ConsumeStreamStream = ReceiverStream<Result<ConsumeResponse, Status>>;

    async fn consume_stream(
        &self,
        _request: Request<ConsumeRequest>,
    ) -> Result<Response<Self::ConsumeStreamStream>, Status> {
        Err(Status::unimplemented("the echo server stores nothing"))
    }

    type ProduceStreamStream = ReceiverStream<Result<ProduceResponse, Status>>;

    async fn produce_stream(
        &self,
        request: Request<Streaming<ProduceRequest>>,
    ) -> Result<Response<Self::ProduceStreamStream>, Status> {
        let mut requests = request.into_inner();
        let next_offset = Arc::clone(&self.next_offset);
        let (responses, receiver) = mpsc::channel(ServiceConfig::default().stream_buffer);
        tokio::spawn(async move {
            while let Ok(Some(_request)) = requests.message().await {
                let offset = next_offset.fetch_add(1, Ordering::Relaxed);
                if responses
                    .send(Ok(ProduceResponse { offset }))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
        Ok(Response::new(ReceiverStream::new(receiver)))
    }

    async fn get_servers(
        &self,
        _request: Request<GetServersRequest>,
    ) -> Result<Response<GetServersResponse>, Status> {
        Err(Status::unimplemented("the echo server stores nothing"))
    }
}
