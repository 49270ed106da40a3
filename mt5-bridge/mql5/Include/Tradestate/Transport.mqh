//+------------------------------------------------------------------+
//|                                     Tradestate/Transport.mqh     |
//| Sending one batch and reading what became of each update:        |
//|  - TsHttp: POST <url>/v1/ingest with WebRequest (JSON). The call |
//|    blocks up to timeout_ms; that is WebRequest's nature, which   |
//|    is why the Service program exists.                           |
//|  - TsResp: HSET/XADD pipelined over an MQL5 socket (RESP3 after  |
//|    HELLO 3 AUTH), optionally TLS. It never waits for a reply:    |
//|    Begin() writes, Poll() reads only what the socket already     |
//|    holds, and a batch stays in flight across timer ticks until   |
//|    every reply is in or its deadline passes.                     |
//| Outcome per update (CLIENT.md "Sending"): acknowledged (a status |
//| of TS_ACK_STATUSES), dead (refused for good), backoff (its kind  |
//| waits), or retry (no answer for it: sent again, no penalty).     |
//+------------------------------------------------------------------+
#ifndef TRADESTATE_TRANSPORT_MQH
#define TRADESTATE_TRANSPORT_MQH

#include "Wire.mqh"
#include "Json.mqh"

#define TS_OUT_RETRY   0
#define TS_OUT_ACK     1
#define TS_OUT_DEAD    2
#define TS_OUT_BACKOFF 3

//--- The reply statuses that acknowledge an update; any other is resent with the same seq.
//--- spooled (in the gateway's spill log, written to its partition later) and volatile (in a
//--- partition without an append-only file) count too: the gateway has taken the update, so a
//--- resend could add nothing (for a spooled one, only more backlog for a partition already
//--- behind). The Rust reference client acknowledges the same words (ACK_STATUSES;
//--- tests/mql5_source.rs compares them).
#define TS_ACK_STATUSES "stored coalesced stale duplicate spooled volatile"
//--- The gateway's statuses that are not acknowledgements: the update's kind backs off. A status
//--- this list does not know yet is treated the same way.
#define TS_BACKOFF_STATUSES "unavailable refused queue_full terminal_rate global_rate"
//--- RESP3 pushes of the gateway: >2 throttle :<ms>, >3 stale <key> :<stored_seq> right
//--- before the :0 reply of the HSET it refused as stale, and >2 renumber :<seq> before the
//--- replies of a read: a state it had answered spooled was dropped when written later, the key
//--- holding <seq> of another numbering (HTTP: "renumber_above" at the top of the reply).
#define TS_PUSH_THROTTLE "throttle"
#define TS_PUSH_STALE    "stale"
#define TS_PUSH_RENUMBER "renumber"

bool TsAcknowledged(const string status)
  {
   if(status=="" || StringFind(status," ")>=0)
      return(false);
   return(StringFind(" "+TS_ACK_STATUSES+" "," "+status+" ")>=0);
  }

//+------------------------------------------------------------------+
//| One batch: what is sent, and what became of each update          |
//+------------------------------------------------------------------+
class TsBatch
  {
public:
   int               count;
   long              seqs[];
   int               kinds[];
   string            lines[];        // the queue lines (wire JSON)
   string            keys[];         // RESP key of each command ("" for signals)
   string            entries[];      // HTTP: the JSON entries; RESP: the commands
   //--- results
   int               outcomes[];
   long              stored_seqs[];  // stale: the seq the gateway holds; -1 when not told
   string            reasons[];
   long              throttle_ms;    // slow down by this much (a hint on success)
   long              retry_after_ms; // wait at least this long before retrying
   long              renumber_above; // a spooled state was dropped against this seq; -1 when not told
   bool              failed_all;     // no usable answer: every kind backs off
   bool              fatal;          // token, id or allow-list: retried slowly
   bool              split;          // 400 naming no update / 413: halve and retry at once
   bool              split_found;    // a 400 naming no update hit a single update: full batches again
   bool              finished;
   string            error;
   ulong             started;

                     TsBatch(void) { Clear(); }

   void              Clear(void)
     {
      count=0;
      ArrayResize(seqs,0);
      ArrayResize(kinds,0);
      ArrayResize(lines,0);
      ArrayResize(keys,0);
      ArrayResize(entries,0);
      ArrayResize(outcomes,0);
      ArrayResize(stored_seqs,0);
      ArrayResize(reasons,0);
      throttle_ms=0;
      retry_after_ms=0;
      renumber_above=-1;
      failed_all=false;
      fatal=false;
      split=false;
      split_found=false;
      finished=false;
      error="";
      started=0;
     }

   void              Add(const long seq,const int kind,const string line,const string key,const string entry)
     {
      ArrayResize(seqs,count+1,128);
      ArrayResize(kinds,count+1,128);
      ArrayResize(lines,count+1,128);
      ArrayResize(keys,count+1,128);
      ArrayResize(entries,count+1,128);
      ArrayResize(outcomes,count+1,128);
      ArrayResize(stored_seqs,count+1,128);
      ArrayResize(reasons,count+1,128);
      seqs[count]=seq;
      kinds[count]=kind;
      lines[count]=line;
      keys[count]=key;
      entries[count]=entry;
      outcomes[count]=TS_OUT_RETRY;
      stored_seqs[count]=-1;
      reasons[count]="";
      count++;
     }

   void              FailAll(const string why,const long retry_after)
     {
      failed_all=true;
      error=why;
      retry_after_ms=MathMax(retry_after_ms,retry_after);
      finished=true;
     }
  };

//--- Retry-After (seconds) from WebRequest's result_headers, in ms; 0 when absent.
long TsHeaderMs(const string headers,const string name,const long scale)
  {
   string lower=headers;
   StringToLower(lower);
   int at=StringFind(lower,name+":");
   if(at<0)
      return(0);
   int start=at+StringLen(name)+1;
   int end=StringFind(lower,"\r\n",start);
   string value=(end==start) ? "" : StringSubstr(lower,start,end<0 ? -1 : end-start); // length 0 may read to the end
   StringTrimLeft(value);
   StringTrimRight(value);
   return(StringToInteger(value)*scale);
  }

//+------------------------------------------------------------------+
//| HTTP transport                                                   |
//+------------------------------------------------------------------+
class TsHttp
  {
private:
   //--- Reads the reply of POST /v1/ingest into the batch's outcomes.
   void              ReadReply(const int status,const string reply,const string headers,TsBatch &batch)
     {
      TsJson json;
      bool parsed=json.Parse(reply) && json.types[0]==TS_J_OBJECT;
      long retry_after=TsHeaderMs(headers,"retry-after",1000);
      if(parsed)
        {
         retry_after=json.Integer(0,"retry_after_ms",retry_after);
         //--- once, on whatever reply comes next: a state answered spooled was dropped when the
         //--- gateway wrote it, the key holding this seq of another numbering of the instance
         batch.renumber_above=MathMax(batch.renumber_above,json.Integer(0,"renumber_above",-1));
        }
      batch.throttle_ms=parsed ? json.Integer(0,"throttle_ms",0) : 0;
      batch.throttle_ms=MathMax(batch.throttle_ms,TsHeaderMs(headers,"x-tradestate-throttle-ms",1));
      string summary="HTTP "+IntegerToString(status)+": "+StringSubstr(reply,0,300);
      int results=parsed ? json.Member(0,"results") : -1;
      if(results>=0 && json.types[results]==TS_J_ARRAY)
        {
         //--- One result per update, in order (200, or 429/503 naming what was not taken).
         int items[];
         int found=json.Items(results,items);
         string statuses[];
         ArrayResize(statuses,found);
         for(int i=0;i<found;i++)
            statuses[i]=json.Text(items[i],"status");
         for(int i=0;i<batch.count;i++)
           {
            if(i>=found)
              {
               batch.FailAll("the gateway answered "+IntegerToString(found)+" of "+IntegerToString(batch.count)+" updates; "+summary,retry_after);
               break;
              }
            if(TsAcknowledged(statuses[i]))
              {
               batch.outcomes[i]=TS_OUT_ACK;
               batch.stored_seqs[i]=json.Integer(items[i],"stored_seq",-1); // only a stale result has it
              }
            else
              {
               batch.outcomes[i]=TS_OUT_BACKOFF;
               batch.reasons[i]=statuses[i]+": "+json.Text(items[i],"error");
               batch.error=batch.reasons[i];
              }
           }
         batch.retry_after_ms=MathMax(batch.retry_after_ms,retry_after);
         batch.finished=true;
         return;
        }
      if(status==400)
        {
         //--- "field":"updates[3].volume": that update can never be stored; the others are sent
         //--- again at once. A 400 naming no update halves the batch, down to one update.
         int errors=parsed ? json.Member(0,"errors") : -1;
         int items[];
         int n=(errors>=0) ? json.Items(errors,items) : 0;
         bool any=false;
         for(int k=0;k<n;k++)
           {
            string field=json.Text(items[k],"field");
            if(StringFind(field,"updates[")!=0)
               continue;
            int index=(int)StringToInteger(StringSubstr(field,8));
            if(index<0 || index>=batch.count)
               continue;
            string reason=field+": "+json.Text(items[k],"message");
            batch.reasons[index]=(batch.outcomes[index]==TS_OUT_DEAD) ? batch.reasons[index]+"; "+reason : reason;
            batch.outcomes[index]=TS_OUT_DEAD;
            any=true;
           }
         if(!any)
           {
            string message=parsed ? json.Text(0,"message",reply) : reply;
            if(batch.count>1)
               batch.split=true;
            else
              {
               batch.outcomes[0]=TS_OUT_DEAD;
               batch.reasons[0]="HTTP 400: "+StringSubstr(message,0,500);
               batch.split_found=true;
              }
           }
         batch.error=summary;
         batch.finished=true;
         return;
        }
      if(status==413)
        {
         if(batch.count>1)
            batch.split=true;
         else
           {
            batch.outcomes[0]=TS_OUT_DEAD;
            batch.reasons[0]="HTTP 413: larger than the gateway's body limit on its own";
           }
         batch.error=summary;
         batch.finished=true;
         return;
        }
      if(status==401 || status==403)
        {
         batch.fatal=true;
         batch.FailAll("the token is not valid for this instance (HTTP "+IntegerToString(status)+"): check the Token and InstanceId inputs",0);
         return;
        }
      //--- 429 / 503 for the whole request, other statuses, or a reply that is not the gateway's.
      batch.FailAll(summary,retry_after);
     }

public:
   string            url;        // base URL, e.g. https://gw.example.com:8443 (no /v1/ingest)
   string            token;
   int               timeout_ms;

   //--- Sends the batch and reads the reply (WebRequest blocks until then).
   void              Send(const string instance_id,TsBatch &batch)
     {
      string body=TsBatchJson(instance_id,batch.entries,batch.count);
      uchar bytes[];
      int length=TsUtf8(body,bytes);
      char data[];
      ArrayResize(data,length);
      for(int i=0;i<length;i++)
         data[i]=(char)bytes[i];
      string headers="Content-Type: application/json\r\nAuthorization: Bearer "+token+"\r\n";
      char reply_bytes[];
      string reply_headers="";
      ResetLastError();
      int status=WebRequest("POST",url+"/v1/ingest",headers,timeout_ms,data,reply_bytes,reply_headers);
      if(status==-1)
        {
         int error=GetLastError();
         if(error==4014) // ERR_FUNCTION_NOT_ALLOWED
           {
            batch.fatal=true;
            batch.FailAll("WebRequest is not allowed: add "+url+" in Tools > Options > Expert Advisors > 'Allow WebRequest for listed URL' (error 4014)",0);
           }
         else
            batch.FailAll("WebRequest to "+url+" failed, error "+IntegerToString(error)+
                          " (5203 = request failed: unreachable, timeout, or an HTTPS certificate the terminal does not trust)",0);
         return;
        }
      string reply=CharArrayToString(reply_bytes,0,WHOLE_ARRAY,CP_UTF8);
      ReadReply(status,reply,reply_headers,batch);
     }
  };

//+------------------------------------------------------------------+
//| RESP replies                                                     |
//+------------------------------------------------------------------+
struct TsReply
  {
   uchar             type;
   string            text;
   long              number;
   bool              nil;
   string            push;        // a push (>): its first element, e.g. "throttle", "stale", "renumber"
   string            push_key;    // stale: the key
   long              push_number; // throttle: ms; stale: the stored seq; renumber: the seq to number above
  };

int TsRespLineEnd(const uchar &buf[],const int pos,const int end)
  {
   for(int i=pos;i+1<end;i++)
      if(buf[i]=='\r' && buf[i+1]=='\n')
         return(i);
   return(-1);
  }

//--- The position after the value at pos; -1 when more bytes are needed, -2 when malformed.
int TsRespSkip(const uchar &buf[],const int pos,const int end)
  {
   if(pos>=end)
      return(-1);
   int line_end=TsRespLineEnd(buf,pos,end);
   if(line_end<0)
      return(-1);
   uchar type=buf[pos];
   //--- count 0 ("_\r\n", "+\r\n") may read to the end of the buffer: "" by hand
   long number=(line_end>pos+1) ? StringToInteger(CharArrayToString(buf,pos+1,line_end-pos-1)) : 0;
   int after=line_end+2;
   if(type=='+' || type=='-' || type==':' || type=='_' || type==',' || type=='#' || type=='(')
      return(after);
   if(type=='$' || type=='=' || type=='!')
     {
      if(number<0)
         return(after);
      if(after+number+2>end)
         return(-1);
      return((int)(after+number+2));
     }
   if(type=='*' || type=='~' || type=='>' || type=='%' || type=='|')
     {
      if(number<0)
         return(after);
      long items=(type=='%' || type=='|') ? number*2 : number;
      int at=after;
      for(long i=0;i<items;i++)
        {
         at=TsRespSkip(buf,at,end);
         if(at<0)
            return(at);
        }
      return(at);
     }
   return(-2);
  }

//--- Reads the value at pos; returns the next position (-1 incomplete, -2 malformed). An
//--- attribute (|) before a reply is skipped.
int TsRespRead(const uchar &buf[],const int pos,const int end,TsReply &reply)
  {
   int next=TsRespSkip(buf,pos,end);
   if(next<0)
      return(next);
   if(buf[pos]=='|')
      return(TsRespRead(buf,next,end,reply));
   int line_end=TsRespLineEnd(buf,pos,end);
   string line=(line_end>pos+1) ? CharArrayToString(buf,pos+1,line_end-pos-1,CP_UTF8) : "";
   reply.type=buf[pos];
   reply.text="";
   reply.number=0;
   reply.nil=false;
   reply.push="";
   reply.push_key="";
   reply.push_number=-1;
   if(reply.type=='$')
     {
      long length=StringToInteger(line);
      if(length<0)
         reply.nil=true;
      else
         if(length>0)
            reply.text=CharArrayToString(buf,line_end+2,(int)length,CP_UTF8);
     }
   else
      if(reply.type=='_' || (reply.type=='*' && StringToInteger(line)<0))
         reply.nil=true;
      else
         if(reply.type==':')
            reply.number=StringToInteger(line);
         else
            if(reply.type=='>')
              {
               //--- >2 throttle :<ms>,   >3 stale <key> :<stored_seq>   and   >2 renumber :<seq>
               long items=StringToInteger(line);
               TsReply part;
               int at=line_end+2;
               for(long i=0;i<items && at>0;i++)
                 {
                  at=TsRespRead(buf,at,end,part);
                  if(at<0)
                     break;
                  if(i==0)
                     reply.push=part.text;
                  else
                     if(part.type==':')
                        reply.push_number=part.number;
                     else
                        if(i==1)
                           reply.push_key=part.text;
                 }
              }
            else
               reply.text=line;
   return(next);
  }

//+------------------------------------------------------------------+
//| RESP transport over MQL5 sockets                                 |
//+------------------------------------------------------------------+
#define TS_RESP_CLOSED   0
#define TS_RESP_HELLO    1 // HELLO sent, its reply awaited; the batch waits to be written
#define TS_RESP_READY    2
#define TS_RESP_INFLIGHT 3 // the batch is written, replies come in

class TsResp
  {
private:
   int               m_socket;
   uchar             m_buf[];
   int               m_len;
   int               m_state;
   ulong             m_deadline;
   int               m_replied;
   //--- a stale push applies to the reply that follows it
   bool              m_stale_pending;
   string            m_stale_key;
   long              m_stale_seq;

   bool              WriteAll(const string text,string &error)
     {
      uchar bytes[];
      int count=TsUtf8(text,bytes);
      int sent=0;
      uchar rest[];
      while(sent<count)
        {
         ArrayResize(rest,0);
         ArrayCopy(rest,bytes,0,sent,count-sent);
         ResetLastError();
         int n=tls ? SocketTlsSend(m_socket,rest,(uint)(count-sent)) : SocketSend(m_socket,rest,(uint)(count-sent));
         if(n<=0)
           {
            error="socket send failed, error "+IntegerToString(GetLastError())+" (5273 = ERR_NETSOCKET_IO_ERROR)";
            return(false);
           }
         sent+=n;
        }
      return(true);
     }

   //--- Appends what the socket already holds, never waiting for more; -1 on a broken
   //--- connection. SocketIsReadable may report 1 byte for an empty buffer, so SocketRead
   //--- gets a 1 ms timeout, not the network timeout.
   int               ReadAvailable(void)
     {
      uchar chunk[];
      int n=0;
      ResetLastError();
      if(tls)
         n=SocketTlsReadAvailable(m_socket,chunk,65536);
      else
        {
         uint available=SocketIsReadable(m_socket);
         if(available==0)
            return((GetLastError()!=0 || !SocketIsConnected(m_socket)) ? -1 : 0);
         n=SocketRead(m_socket,chunk,(available>65536 ? 65536 : available),1);
        }
      if(n<=0)
         return(SocketIsConnected(m_socket) ? 0 : -1);
      ArrayResize(m_buf,m_len+n,65536);
      ArrayCopy(m_buf,chunk,m_len,0,n);
      m_len+=n;
      return(n);
     }

   void              Consume(const int count)
     {
      if(count>=m_len)
        {
         m_len=0;
         ArrayResize(m_buf,0,65536);
         return;
        }
      uchar rest[];
      ArrayCopy(rest,m_buf,0,count,m_len-count);
      m_len-=count;
      ArrayResize(m_buf,m_len,65536);
      ArrayCopy(m_buf,rest,0,0,m_len);
     }

   void              Fail(TsBatch &batch,const string why)
     {
      //--- Unreplied writes are sent again on a new connection: a state comes back stale, a
      //--- signal duplicate, so nothing is stored twice.
      batch.FailAll(why,0);
      Close();
     }

   bool              Connect(const string instance_id,const string token,TsBatch &batch)
     {
      Close();
      ResetLastError();
      m_socket=SocketCreate();
      if(m_socket==INVALID_HANDLE)
        {
         Fail(batch,"SocketCreate failed, error "+IntegerToString(GetLastError())+" (5271 = ERR_NETSOCKET_TOO_MANY_OPENED)");
         return(false);
        }
      //--- The one blocking call: connecting, bounded by the timeout.
      if(!SocketConnect(m_socket,host,port,(uint)timeout_ms))
        {
         int error=GetLastError();
         string why="cannot connect to "+host+":"+IntegerToString(port)+", error "+IntegerToString(error);
         if(error==4014)
           {
            batch.fatal=true;
            why+=" (4014: add "+host+" in Tools > Options > Expert Advisors > 'Allow WebRequest for listed URL')";
           }
         else
            why+=" (5272 = ERR_NETSOCKET_CANNOT_CONNECT)";
         Fail(batch,why);
         return(false);
        }
      //--- Port 443 is secured by SocketConnect itself; other ports need the handshake.
      if(tls && port!=443 && !SocketTlsHandshake(m_socket,host))
        {
         Fail(batch,"TLS handshake with "+host+" failed, error "+IntegerToString(GetLastError())+" (5274 = ERR_NETSOCKET_HANDSHAKE_FAILED)");
         return(false);
        }
      string args[5];
      args[0]="HELLO";
      args[1]="3";
      args[2]="AUTH";
      args[3]=instance_id;
      args[4]=token;
      string error="";
      if(!WriteAll(TsRespArray(args,5),error))
        {
         Fail(batch,error);
         return(false);
        }
      m_state=TS_RESP_HELLO;
      m_deadline=GetTickCount64()+(ulong)timeout_ms;
      return(true);
     }

   bool              WriteBatch(TsBatch &batch)
     {
      string text="";
      for(int i=0;i<batch.count;i++)
         text+=batch.entries[i];
      string error="";
      if(!WriteAll(text,error))
        {
         Fail(batch,error);
         return(false);
        }
      m_state=TS_RESP_INFLIGHT;
      m_replied=0;
      m_stale_pending=false;
      m_deadline=GetTickCount64()+(ulong)timeout_ms;
      return(true);
     }

   //--- One reply of the batch, for command m_replied.
   void              Take(TsBatch &batch,const TsReply &reply)
     {
      int i=m_replied;
      if(reply.type=='-')
        {
         if(StringFind(reply.text,"TRYAGAIN")==0)
           {
            //--- -TRYAGAIN <why>, retry in <ms> ms: this update's kind waits.
            batch.outcomes[i]=TS_OUT_BACKOFF;
            batch.reasons[i]=reply.text;
            batch.error=reply.text;
            int at=StringFind(reply.text,"retry in ");
            if(at>=0)
               batch.retry_after_ms=MathMax(batch.retry_after_ms,StringToInteger(StringSubstr(reply.text,at+9)));
           }
         else
            if(StringFind(reply.text,"NOPERM")==0 && batch.kinds[i]==TS_KIND_POSITIONS)
              {
               //--- A gateway older than contract 1.1 does not take the positions key.
               batch.outcomes[i]=TS_OUT_DEAD;
               batch.reasons[i]=reply.text+" (the gateway does not know the positions snapshot; upgrade it)";
              }
            else
               if(StringFind(reply.text,"NOPERM")==0 || StringFind(reply.text,"NOAUTH")==0 || StringFind(reply.text,"WRONGPASS")==0)
                 {
                  //--- The id, token or stream does not match the gateway.
                  batch.fatal=true;
                  batch.failed_all=true;
                  batch.error=reply.text+": check the Token, InstanceId and signal stream";
                 }
               else
                 {
                  //--- -ERR invalid update: ... (or another -ERR about this command): never storable.
                  batch.outcomes[i]=TS_OUT_DEAD;
                  batch.reasons[i]=reply.text;
                  batch.error=reply.text;
                 }
        }
      else
        {
         //--- :n, :0 (stale), +OK, entry id, nil (duplicate); spooled and volatile answer as stored.
         batch.outcomes[i]=TS_OUT_ACK;
         if(m_stale_pending && (m_stale_key=="" || m_stale_key==batch.keys[i]))
            batch.stored_seqs[i]=m_stale_seq;
        }
      m_stale_pending=false;
      m_replied++;
     }

public:
   string            host;
   uint              port;
   bool              tls;
   int               timeout_ms;

                     TsResp(void) { m_socket=INVALID_HANDLE; m_len=0; m_state=TS_RESP_CLOSED; m_deadline=0; m_replied=0; m_stale_pending=false; m_stale_seq=-1; port=0; tls=false; timeout_ms=5000; }
                    ~TsResp(void) { Close(); }

   void              Close(void)
     {
      if(m_socket!=INVALID_HANDLE)
         SocketClose(m_socket);
      m_socket=INVALID_HANDLE;
      m_len=0;
      ArrayResize(m_buf,0);
      m_state=TS_RESP_CLOSED;
      m_stale_pending=false;
     }

   //--- Starts a batch: connects (and says HELLO) when needed, writes the commands when the
   //--- connection is ready. Poll() completes it.
   void              Begin(const string instance_id,const string token,TsBatch &batch)
     {
      batch.started=GetTickCount64();
      if(m_socket==INVALID_HANDLE || m_state==TS_RESP_CLOSED || !SocketIsConnected(m_socket))
        {
         if(!Connect(instance_id,token,batch))
            return;
        }
      if(m_state==TS_RESP_READY)
         WriteBatch(batch);
     }

   //--- Reads what has arrived; true when the batch is finished (batch.finished).
   bool              Poll(TsBatch &batch)
     {
      if(batch.finished)
         return(true);
      if(ReadAvailable()<0)
        {
         Fail(batch,"the gateway closed the connection");
         return(true);
        }
      while(!batch.finished)
        {
         TsReply reply;
         int next=TsRespRead(m_buf,0,m_len,reply);
         if(next==-2)
           {
            Fail(batch,"unreadable reply from the gateway");
            return(true);
           }
         if(next<0)
            break;
         Consume(next);
         if(reply.type=='>')
           {
            if(reply.push==TS_PUSH_THROTTLE)
               batch.throttle_ms=MathMax(batch.throttle_ms,reply.push_number);
            else
               if(reply.push==TS_PUSH_STALE)
                 {
                  m_stale_pending=true;
                  m_stale_key=reply.push_key;
                  m_stale_seq=reply.push_number;
                 }
               else
                  if(reply.push==TS_PUSH_RENUMBER && reply.push_number>=0)
                     batch.renumber_above=MathMax(batch.renumber_above,reply.push_number); // kept whatever becomes of the batch
            continue;
           }
         if(m_state==TS_RESP_HELLO)
           {
            if(reply.type=='-')
              {
               batch.fatal=true;
               Fail(batch,"the gateway refused HELLO/AUTH: "+reply.text+": check the Token and InstanceId inputs");
               return(true);
              }
            m_state=TS_RESP_READY;
            if(!WriteBatch(batch))
               return(true);
            continue;
           }
         if(m_state!=TS_RESP_INFLIGHT)
            continue; // nothing was asked: ignore
         Take(batch,reply);
         if(m_replied>=batch.count)
           {
            batch.finished=true;
            m_state=TS_RESP_READY;
           }
        }
      if(batch.fatal && !batch.finished)
        {
         Fail(batch,batch.error);
         return(true);
        }
      if(batch.finished)
        {
         if(batch.fatal)
            Close();
         return(true);
        }
      if(GetTickCount64()>m_deadline)
        {
         Fail(batch,"no reply from the gateway in "+IntegerToString(timeout_ms)+" ms");
         return(true);
        }
      return(false);
     }
  };

#endif // TRADESTATE_TRANSPORT_MQH
//+------------------------------------------------------------------+
